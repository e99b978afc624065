"""How urgent a case is, and why: severity, then confidence, then age.

Reviewers should see the worst and the surest first, and nobody's case
should wait forever. The score is a sum of points, each with its reason, so
the console can show exactly why a case ranks where it does:

- severity (up to 50): a tag the taxonomy lists as most severe scores 50, a
  primary tag 30, anything else 10;
- confidence (up to 40): the best match's closeness (an exact hash match 30,
  a perceptual one from 30 at distance 0 down to 0 at distance 64), plus 5
  for each further independent source (bank) that matched, at most 10;
- trust (up to 10): the trust a curator gave the most trusted matching bank;
- age (up to 10): one point an hour while the case waits, added when the
  queue is ranked rather than stored, since it keeps changing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime

from actioners.models import CaseMatch
from banks.taxonomy import Taxonomy
from hashers.registry import BUILT_IN_TYPES

HIGHEST_SEVERITY = 50
PRIMARY_SEVERITY = 30
OTHER_SEVERITY = 10
EXACT_CONFIDENCE = 30
DISTANCE_SCALE = 64
PER_EXTRA_SOURCE = 5
MOST_FOR_SOURCES = 10
AGE_POINTS_PER_HOUR = 1
MOST_FOR_AGE = 10

#: Signal types whose match means the very same file (digests of its bytes). The
#: points are those of distance 0 anyway; the reason then says "exact".
EXACT_TYPES = frozenset(t.name for t in BUILT_IN_TYPES.values() if t.identifies_bytes)


@dataclass(frozen=True)
class Reason:
    factor: str
    points: int
    why: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def case_priority(
    matches: Iterable[CaseMatch], taxonomy: Taxonomy, trust: Mapping[int, int] | None = None
) -> tuple[int, list[Reason]]:
    """The stored part of the score (severity, confidence, trust) and its reasons.

    `trust` gives each bank's trust points by bank id.
    """
    matches = list(matches)
    reasons = [_severity(matches, taxonomy), _closeness(matches)]
    trusted = (
        max(((trust or {}).get(m.bank_id, 0), m.bank_name) for m in matches) if matches else (0, "")
    )
    if trusted[0] > 0:
        reasons.append(Reason("trust", trusted[0], f"bank {trusted[1]} is trusted {trusted[0]}/10"))
    sources = sorted({m.bank_name for m in matches})
    if len(sources) > 1:
        points = min(MOST_FOR_SOURCES, PER_EXTRA_SOURCE * (len(sources) - 1))
        reasons.append(
            Reason("agreement", points, f"{len(sources)} banks matched: {', '.join(sources)}")
        )
    return sum(r.points for r in reasons), reasons


def _severity(matches: list[CaseMatch], taxonomy: Taxonomy) -> Reason:
    tags = sorted({taxonomy.normalize(t) for m in matches for t in m.tags})
    highest = [t for t in tags if t in taxonomy.highest_severity]
    if highest:
        return Reason("severity", HIGHEST_SEVERITY, f"most severe tags: {', '.join(highest)}")
    primary = [t for t in tags if taxonomy.is_primary(t)]
    if primary:
        return Reason("severity", PRIMARY_SEVERITY, f"primary tags: {', '.join(primary)}")
    return Reason("severity", OTHER_SEVERITY, "no primary tag on the matched signals")


def _closeness(matches: list[CaseMatch]) -> Reason:
    if not matches:
        return Reason("confidence", 0, "no matches")
    exact = [m for m in matches if m.signal_type in EXACT_TYPES]
    if exact:
        return Reason("confidence", EXACT_CONFIDENCE, f"exact {exact[0].signal_type} match")
    best = min(matches, key=lambda m: m.distance)
    points = max(0, round(EXACT_CONFIDENCE * (1 - best.distance / DISTANCE_SCALE)))
    return Reason("confidence", points, f"{best.signal_type} at distance {best.distance}")


def age_reason(created_at: datetime, now: datetime) -> Reason:
    hours = max(0.0, (now - created_at).total_seconds() / 3600)
    points = min(MOST_FOR_AGE, int(hours * AGE_POINTS_PER_HOUR))
    return Reason("age", points, f"waiting {hours:.1f} h")
