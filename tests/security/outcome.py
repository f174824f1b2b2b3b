"""One case's outcome, and its line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Outcome:
    name: str
    passed: bool
    crashes: int  # worker (or host) exits that were not asked for
    forged_writes: int  # writes accepted that no honest worker made
    lost: int  # good events not counted
    detail: str = ""

    def line(self) -> str:
        verdict = "ok" if self.passed else "FAIL"
        return f"{self.name:<34} {verdict:<4} crashes={self.crashes} forged={self.forged_writes} lost={self.lost}  {self.detail}"
