"""How long to wait before trying again: one rule for every retry in the project.

Exchange requests, feedback and webhook deliveries, and failing syncs all
back off the same way, doubling the wait after each failure in a row up to a
ceiling, so an operator reads one rule in the docs and every retry follows it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Waits of `first` seconds after one failure, twice that after two, and so on,
    never more than `longest`."""

    first: float
    longest: float = math.inf

    def after(self, failures: int) -> float:
        """Seconds to wait once `failures` attempts in a row have failed (0: none)."""
        if failures <= 0:
            return 0.0
        return min(self.longest, self.first * 2.0 ** (failures - 1))
