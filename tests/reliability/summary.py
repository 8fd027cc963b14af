"""The reliability suite's tally: what was tried and what was found, printed at the end.

Tests add to the one shared `TALLY`; the suite's conftest writes it to a file under pytest's
temporary folder and echoes it after the run. Later checks (faults injected, reruns compared)
add their own counts with `TALLY.add("faults injected", n)`; they appear as extra lines.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Tally:
    defect_kinds: set[str] = field(default_factory=set)
    rows_tried: int = 0
    rows_quarantined: int = 0
    builds_stopped: int = 0
    mismatches: list[str] = field(default_factory=list)
    other: Counter = field(default_factory=Counter)

    def defects(self, kinds: set[str] | list[str], rows_tried: int, rows_quarantined: int) -> None:
        self.defect_kinds.update(kinds)
        self.rows_tried += rows_tried
        self.rows_quarantined += rows_quarantined

    def stopped(self, kind: str, rows_tried: int) -> None:
        """A defect the build refuses as a whole (stops with the file, column and rule)."""
        self.defect_kinds.add(kind)
        self.rows_tried += rows_tried
        self.builds_stopped += 1

    def mismatch(self, description: str) -> None:
        self.mismatches.append(description)

    def add(self, name: str, n: int = 1) -> None:
        self.other[name] += n

    def is_empty(self) -> bool:
        return not (self.defect_kinds or self.rows_tried or self.other or self.mismatches)

    def render(self) -> str:
        lines = [
            "cartcast reliability summary",
            f"  defect kinds tried                {len(self.defect_kinds):>8,}",
            f"  rows tried                        {self.rows_tried:>8,}",
            f"  rows quarantined                  {self.rows_quarantined:>8,}",
            f"  builds stopped with cause         {self.builds_stopped:>8,}",
        ]
        lines += [f"  {name:<34}{n:>8,}" for name, n in sorted(self.other.items())]
        lines.append(f"  mismatches found                  {len(self.mismatches):>8,}")
        lines += [f"    - {m}" for m in self.mismatches]
        lines.append("  kinds: " + ", ".join(sorted(self.defect_kinds)))
        return "\n".join(lines)


TALLY = Tally()
