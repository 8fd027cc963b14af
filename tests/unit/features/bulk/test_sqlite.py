"""How the SQLite bulk writer hands staged slices from its child processes to the insert."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from cartcast.errors import FeatureStoreError
from cartcast.features.bulk.sqlite import _staged_images


def _stage(start: int) -> bytes:
    # The staging process's id rides along, to see who made each image.
    return f"{start}:{os.getpid()}".encode()


@pytest.mark.parametrize("workers", [0, 1, 2, 3])
def test_images_come_back_in_order_whoever_made_them(workers: int) -> None:
    starts = list(range(0, 70, 10))
    images = [i.decode().split(":") for i in _staged_images(_stage, starts, workers)]
    assert [int(start) for start, _ in images] == starts
    makers = {int(pid) for _, pid in images}
    if workers == 0:
        assert makers == {os.getpid()}
    else:
        assert os.getpid() not in makers
        assert len(makers) == workers


def test_a_single_slice_is_staged_here() -> None:
    [image] = list(_staged_images(_stage, [0], 2))
    assert image == f"0:{os.getpid()}".encode()


class _Refused(ValueError):
    pass


def _stage_or_refuse(start: int) -> bytes:
    if start == 30:
        raise _Refused(f"slice {start} holds a value Feast cannot store")
    return b"rows"


def test_an_error_in_a_child_is_raised_here_as_it_was_raised_there() -> None:
    images = _staged_images(_stage_or_refuse, list(range(0, 70, 10)), 2)
    assert next(images) == b"rows"
    with pytest.raises(_Refused, match="slice 30 holds a value Feast cannot store"):
        list(images)


def test_an_error_that_does_not_pickle_still_says_what_it_was() -> None:
    def refuse(start: int) -> bytes:
        if start:
            raise _Unpicklable("the slice is unreadable")
        return b"rows"

    with pytest.raises(FeatureStoreError, match="_Unpicklable: the slice is unreadable"):
        list(_staged_images(refuse, [0, 10, 20], 2))


class _Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("not picklable")


def test_a_child_that_dies_is_reported_with_what_to_do() -> None:
    def die(start: int) -> bytes:
        if start:
            os._exit(3)  # as the kernel's out-of-memory killer would end it
        return b"rows"

    with pytest.raises(FeatureStoreError, match=r"exit code 3\).*Lower `bulk_entities`"):
        list(_staged_images(die, [0, 10, 20, 30], 2))


KILLED_WRITER = """
import os, signal, time
from cartcast.features.bulk.sqlite import _staged_images

def stage(start):
    time.sleep(0.05)
    return bytes(1 << 20)  # larger than a pipe's buffer: a send waits for the reader

for n, image in enumerate(_staged_images(stage, list(range(40)), 2)):
    if n == 3:
        os.kill(os.getpid(), signal.SIGKILL)
"""


def test_children_exit_when_the_writer_is_killed() -> None:
    # The children share the writer's stdout: run() returns only once they are gone too.
    done = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER], capture_output=True, timeout=60, check=False
    )
    assert done.returncode == -signal.SIGKILL
