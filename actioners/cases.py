"""Opening, listing and deciding review cases.

A case collects every match for one upload (`content_ref`). Nothing here
enforces anything: a decision only records what a person concluded, with who
and when; acting on it is a separate, later step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, get_args

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from actioners.errors import CaseClosed, CaseNotFound
from actioners.feedback import queue_exchange_feedback
from actioners.models import OPEN_STATUSES, Case, CaseDecision, CaseMatch
from actioners.priority import case_priority
from banks.errors import InvalidInput
from banks.lookup import BankMatch
from database import utcnow

Decision = Literal["confirm", "reject", "escalate"]
DECISIONS: tuple[str, ...] = get_args(Decision)
StatusFilter = Literal["open", "escalated", "closed", "unresolved", "all"]
STATUS_FILTERS: tuple[str, ...] = get_args(StatusFilter)
MAX_CONTENT_REF = 512
MAX_NOTE = 10_000
MAX_PAGE = 500


def validate_content_ref(content_ref: Any) -> str:
    if not isinstance(content_ref, str) or not content_ref.strip():
        raise InvalidInput(
            "content_ref is required: the platform's id for the upload", code="missing_content_ref"
        )
    if len(content_ref) > MAX_CONTENT_REF:
        raise InvalidInput(
            f"content_ref is longer than {MAX_CONTENT_REF} characters", code="invalid_content_ref"
        )
    return content_ref


def record_matches(
    session: Session,
    content_ref: str,
    matches: Sequence[BankMatch],
    metadata: dict[str, Any] | None = None,
) -> Case | None:
    """Open a case for `content_ref`, or add to its unresolved one; None if nothing matched.

    Safe under concurrency: the unresolved case is claimed with a conditional
    UPDATE (a row lock on PostgreSQL, the write lock on SQLite) so that it
    cannot be closed while matches are added, and two scans racing to open the
    first case end in one case through the partial unique index.
    """
    if not matches:
        return None
    case_id = _claim_case(session, content_ref, metadata or {})
    existing = set(
        session.execute(
            select(CaseMatch.signal_id, CaseMatch.query_signal).where(CaseMatch.case_id == case_id)
        )
    )
    for match in matches:
        key = (match.signal_id, match.query_signal)
        if key in existing:
            continue
        existing.add(key)
        session.add(
            CaseMatch(
                case_id=case_id,
                bank_id=match.bank_id,
                bank_name=match.bank,
                content_id=match.content_id,
                signal_id=match.signal_id,
                signal_type=match.signal_type,
                signal=match.signal,
                query_signal=match.query_signal,
                distance=match.distance,
                tags=list(match.tags),
                variant=match.variant,
                detail=match.detail,
            )
        )
    session.flush()
    case = get_case(session, case_id)
    session.refresh(case, ["matches"])
    case.priority = case_priority(case.matches)
    if metadata:
        case.details = {**case.details, **metadata}
    session.flush()
    return case


def _claim_case(session: Session, content_ref: str, metadata: dict[str, Any]) -> int:
    """The id of the unresolved case for `content_ref`, locked for this transaction."""
    for _attempt in range(5):
        found = session.scalar(
            select(Case.id).where(Case.content_ref == content_ref, Case.status.in_(OPEN_STATUSES))
        )
        if found is not None:
            claimed = session.execute(
                update(Case)
                .where(Case.id == found, Case.status.in_(OPEN_STATUSES))
                .values(updated_at=utcnow())
            )
            if _rowcount(claimed) == 1:
                return int(found)
            continue
        case = Case(content_ref=content_ref, details=dict(metadata))
        try:
            with session.begin_nested():
                session.add(case)
                session.flush()
        except IntegrityError:
            continue
        return case.id
    raise RuntimeError(f"could not open or claim the case for {content_ref!r}")


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def get_case(session: Session, case_id: int) -> Case:
    case = session.scalar(
        select(Case)
        .where(Case.id == case_id)
        .options(selectinload(Case.matches), selectinload(Case.decisions))
    )
    if case is None:
        raise CaseNotFound(f"no case {case_id}")
    return case


def list_cases(
    session: Session, *, status: str = "unresolved", limit: int = 50, offset: int = 0
) -> tuple[list[Case], int]:
    """A page of cases, most urgent first (then oldest first), and the total count."""
    if status not in STATUS_FILTERS:
        raise InvalidInput(
            f"status must be one of {', '.join(STATUS_FILTERS)}", code="invalid_filter"
        )
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise InvalidInput(
            f"limit must be from 1 to {MAX_PAGE}, offset 0 or more", code="invalid_paging"
        )
    query = select(Case)
    if status == "unresolved":
        query = query.where(Case.status.in_(OPEN_STATUSES))
    elif status != "all":
        query = query.where(Case.status == status)
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    page = session.scalars(
        query.order_by(Case.priority.desc(), Case.created_at, Case.id)
        .limit(limit)
        .offset(offset)
        .options(selectinload(Case.matches))
    )
    return list(page), total


def decide(
    session: Session,
    case: Case,
    decision: str,
    note: str,
    decided_by: str,
    feedback_delay: float = 60.0,
) -> CaseDecision:
    """Record a reviewer's decision; confirm and reject close the case, escalate keeps it open.

    The status change is a conditional UPDATE, so of two reviewers deciding at
    once exactly one succeeds and the other is told the case is closed. A
    confirmation or rejection queues feedback to the exchanges whose signals
    matched, sent no sooner than `feedback_delay` seconds from now.
    """
    if decision not in DECISIONS:
        raise InvalidInput(
            f"decision must be one of {', '.join(DECISIONS)}", code="invalid_decision"
        )
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise InvalidInput(
            f"note must be text of at most {MAX_NOTE} characters", code="invalid_note"
        )
    now = utcnow()
    changes: dict[str, Any] = {"updated_at": now}
    if decision == "escalate":
        changes["status"] = "escalated"
    else:
        changes.update(status="closed", decision=decision, closed_at=now)
    result = session.execute(
        update(Case).where(Case.id == case.id, Case.status.in_(OPEN_STATUSES)).values(**changes)
    )
    if _rowcount(result) != 1:
        session.refresh(case)
        raise CaseClosed(f"case {case.id} was already closed ({case.decision})")
    record = CaseDecision(case_id=case.id, decision=decision, note=note, decided_by=decided_by)
    session.add(record)
    session.flush()
    session.refresh(case)
    queue_exchange_feedback(session, case, decision, feedback_delay)
    return record
