"""The review queue: which cases a reviewer sees, in what order, and which one is next.

The API and the console both ask here, so a reviewer is never told by one
that nothing waits while the other would hand them a case. The ranking is
done by the database: the stored priority plus the age bonus (see
`actioners.priority`), expressed as a CASE over the hour boundaries so that
the same SQL runs on SQLite and PostgreSQL and a page reads only the rows it
shows.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select, true
from sqlalchemy.orm import Session, selectinload

from actioners.models import Case
from actioners.priority import AGE_POINTS_PER_HOUR, MOST_FOR_AGE
from core.errors import InvalidInput
from core.names import OPEN_STATUSES
from database import utcnow

StatusFilter = Literal["open", "escalated", "pending", "closed", "unresolved", "all"]
STATUS_FILTERS: tuple[str, ...] = get_args(StatusFilter)
MAX_PAGE = 500


def age_points(now: datetime) -> ColumnElement[int]:
    """SQL for the age bonus of `actioners.priority.age_reason`: one point per full
    hour of waiting, at most `MOST_FOR_AGE`."""
    steps = MOST_FOR_AGE // AGE_POINTS_PER_HOUR
    whens = [
        (Case.created_at <= now - timedelta(hours=hours), hours * AGE_POINTS_PER_HOUR)
        for hours in range(steps, 0, -1)
    ]
    return case(*whens, else_=literal(0))


def score(now: datetime) -> ColumnElement[int]:
    """A case's rank in the queue: stored priority plus age points."""
    return Case.priority + age_points(now)


def free_for(reviewer: str, now: datetime) -> ColumnElement[bool]:
    """Unclaimed, claimed by `reviewer`, or held under a lease that has run out."""
    return or_(Case.claimed_by.is_(None), Case.claimed_by == reviewer, Case.lease_expires_at <= now)


def _filter(status: str, queue: str | None, queues: Collection[str] | None) -> ColumnElement[bool]:
    if status not in STATUS_FILTERS:
        raise InvalidInput(
            f"status must be one of {', '.join(STATUS_FILTERS)}", code="invalid_filter"
        )
    condition: ColumnElement[bool] = {
        "unresolved": Case.status.in_(OPEN_STATUSES),
        "all": true(),
    }.get(status, Case.status == status)
    if queue is not None:
        condition = and_(condition, Case.queue == queue)
    if queues is not None:
        condition = and_(condition, Case.queue.in_(sorted(queues)))
    return condition


def _ranked(session: Session, condition: ColumnElement[bool], now: datetime, depth: int) -> Any:
    """The ids of the first `depth` cases by score (the query, to page through).

    Age adds at most `MOST_FOR_AGE`, so no case whose stored priority is more
    than that below the `depth`-th highest priority can rank among the first
    `depth`. Reading that priority first (down the priority index) lets the
    ranking score only the cases near the top, however long the queue.
    """
    nth = session.scalar(
        select(Case.priority)
        .where(condition)
        .order_by(Case.priority.desc())
        .offset(depth - 1)
        .limit(1)
    )
    if nth is not None:
        condition = and_(condition, Case.priority >= nth - MOST_FOR_AGE)
    return select(Case.id).where(condition).order_by(score(now).desc(), Case.created_at, Case.id)


def _load(session: Session, ids: list[int]) -> list[Case]:
    found = {
        c.id: c
        for c in session.scalars(
            select(Case).where(Case.id.in_(ids)).options(selectinload(Case.matches))
        )
    }
    return [found[i] for i in ids if i in found]


def page(
    session: Session,
    *,
    status: str = "unresolved",
    limit: int = 50,
    offset: int = 0,
    queue: str | None = None,
    queues: Collection[str] | None = None,
    now: datetime | None = None,
) -> tuple[list[Case], int]:
    """A page of cases, most urgent first (then oldest first), and the total count;
    only cases of `queues` (None: every queue)."""
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise InvalidInput(
            f"limit must be from 1 to {MAX_PAGE}, offset 0 or more", code="invalid_paging"
        )
    condition = _filter(status, queue, queues)
    ranked = _ranked(session, condition, now or utcnow(), offset + limit)
    ids = session.scalars(ranked.limit(limit).offset(offset)).all()
    total = session.scalar(select(func.count()).select_from(Case).where(condition))
    return _load(session, list(ids)), int(total or 0)


def counts(session: Session, queues: Collection[str] | None = None) -> dict[str, int]:
    """Cases per status among those the reviewer may see."""
    condition = _filter("all", None, queues)
    rows = session.execute(select(Case.status, func.count()).where(condition).group_by(Case.status))
    return {status: int(number) for status, number in rows}


def next_free(
    session: Session, reviewer: str, queues: Collection[str] | None, now: datetime | None = None
) -> Case | None:
    """The most urgent unresolved case `reviewer` may take now: free for them, and not
    handed by an admin to somebody else."""
    now = now or utcnow()
    condition = and_(
        _filter("unresolved", None, queues),
        free_for(reviewer, now),
        or_(Case.assigned_to.is_(None), Case.assigned_to == reviewer),
    )
    found = session.scalar(_ranked(session, condition, now, 1).limit(1))
    return None if found is None else _load(session, [found])[0]
