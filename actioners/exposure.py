"""How much abuse material a reviewer has seen this hour, and whether to stop them.

Every look at a case's media or text (a blurred preview, the copy itself, a
post's text) goes through `look`, whether it came through the console or a
personal API token: it is refused past the person's limit, a reveal is
written to the audit log before anything is shown, and the look is counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from actioners.models import Exposure
from core.errors import ExposureLimitReached
from database import audit, utcnow

WINDOW = timedelta(hours=1)


def limit_for(deployment_limit: int, wellness: Mapping[str, Any]) -> int:
    """The deployment's limit, or the lower one a reviewer set for themselves."""
    own = wellness.get("exposure_limit")
    return min(deployment_limit, int(own)) if own else deployment_limit


def cases_seen(session: Session, reviewer: str) -> int:
    """Distinct cases whose media `reviewer` opened within the last hour."""
    since = utcnow() - WINDOW
    seen = session.scalar(
        select(func.count(func.distinct(Exposure.case_id))).where(
            Exposure.reviewer == reviewer, Exposure.at >= since
        )
    )
    return int(seen or 0)


def may_look(session: Session, reviewer: str, case_id: int, limit: int) -> bool:
    """Whether `reviewer` may open this case's media now: a case already opened
    this hour may be looked at again; a new one only under the limit."""
    since = utcnow() - WINDOW
    again = session.scalar(
        select(Exposure.id)
        .where(Exposure.reviewer == reviewer, Exposure.case_id == case_id, Exposure.at >= since)
        .limit(1)
    )
    return again is not None or cases_seen(session, reviewer) < limit


def look(
    session: Session, reviewer: str, case_id: int, *, limit: int | None, revealed: bool
) -> None:
    """`reviewer` looks at the case's media or text: under `limit` (None: the person
    chose to go on past it for a while), a reveal audited first, the look counted.
    Raises ExposureLimitReached; the caller commits."""
    if limit is not None and not may_look(session, reviewer, case_id, limit):
        raise ExposureLimitReached(f"time for a break: {limit} cases' media this hour already")
    if revealed:
        audit.record(session, reviewer, audit.CASE_REVEAL, f"case:{case_id}")
    record(session, reviewer, case_id, revealed)


def record(session: Session, reviewer: str, case_id: int, revealed: bool) -> None:
    session.add(Exposure(reviewer=reviewer, case_id=case_id, revealed=revealed))
