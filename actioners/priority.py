"""How urgent a case is, from what matched.

For now the score is the confidence of the best match alone: an exact
(cryptographic) match or a PDQ at distance 0 scores 100, and each bit of
distance costs `100 / 64` points, so a match at the default threshold of 31
still scores about 52. Severity from taxonomy tags and the case's age are not
part of the score yet.
"""

from __future__ import annotations

from collections.abc import Iterable

from actioners.models import CaseMatch

DISTANCE_SCALE = 64


def case_priority(matches: Iterable[CaseMatch]) -> int:
    best = min((m.distance for m in matches), default=DISTANCE_SCALE)
    return max(0, round(100 * (1 - best / DISTANCE_SCALE)))
