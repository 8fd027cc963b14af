"""Fault points: the places in the shipped code where crash tests kill the process.

A crash test must kill the real code path at a known moment (after a write, before its
commit), not a copy of it written for the test. `fault_point(name)` does nothing unless the
environment variable CARTCAST_FAULT_POINT names that point; then it appends the point's name to
the file named by CARTCAST_FAULT_LOG (the test's proof that the kill happened there) and sends
SIGKILL to its own process. dbt models reach the same function through the SQL function
`cartcast_fault_point(name)` in their post-hook (macro `cartcast_fault_point`), which dbt runs
after the model's write and before its commit.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "CARTCAST_FAULT_POINT"
FAULT_LOG_ENV = "CARTCAST_FAULT_LOG"

# The named points (dbt models add "dbt:<model>", one per model).
SCORING_BEFORE_COMMIT = "scoring.predictions.replace:before_commit"


def fault_point(name: str) -> bool:
    """Kill this process here if CARTCAST_FAULT_POINT is `name`; else return False."""
    if os.environ.get(FAULT_ENV) != name:
        return False
    log = os.environ.get(FAULT_LOG_ENV)
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{name} pid={os.getpid()}\n")
            handle.flush()
            os.fsync(handle.fileno())
    os.kill(os.getpid(), signal.SIGKILL)
    return True  # not reached
