"""Opening, listing and deciding review cases.

A case collects every match for one upload (`content_ref`). Nothing here
enforces anything: a decision only records what a person concluded, with who
and when; acting on it is a separate, later step.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from actioners.models import Case, CaseMatch
from actioners.priority import age_reason, case_priority
from banks.lookup import BankMatch
from banks.models import Bank, BankContent, Exchange
from banks.taxonomy import Taxonomy, shipped_taxonomy
from core.errors import CaseNotFound, InvalidInput
from core.names import OPEN_STATUSES, CaseStatus
from database import audit, utcnow
from hashers import KEYWORD

MAX_CONTENT_REF = 512


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
    taxonomy: Taxonomy | None = None,
) -> Case | None:
    """Open a case for `content_ref`, or add to its unresolved one; None if nothing matched.

    A rescan never touches a reviewer's decision: while one waits (undo
    window, second reviewer), matches it already covers change nothing, and
    new ones open a follow-up case for the same upload, reviewed on its own.

    Safe under concurrency: the unresolved case is claimed with a conditional
    UPDATE (a row lock on PostgreSQL, the write lock on SQLite) so that it
    cannot be decided while matches are added, and two scans racing to open
    the first case end in one case through the partial unique index.
    """
    if not matches:
        return None
    waiting = session.scalar(
        select(Case).where(Case.content_ref == content_ref, Case.status == CaseStatus.PENDING)
    )
    if waiting is not None:
        covered = {(m.signal_id, m.query_signal) for m in waiting.matches}
        matches = [m for m in matches if (m.signal_id, m.query_signal) not in covered]
        if not matches:
            return waiting
    case_id = _claim_case(session, content_ref, metadata or {})
    case = get_case(session, case_id)
    if waiting is not None and "follows_case" not in case.details and not case.matches:
        case.details = {**case.details, "follows_case": waiting.id}
        audit.record(
            session,
            "hma",
            audit.CASE_FOLLOW_UP,
            f"case:{case.id}",
            {"follows": waiting.id, "why": "new matches while a decision waited"},
        )
    _add_matches(session, case, matches)
    set_priority(session, case, taxonomy)
    if metadata:
        case.details = {**case.details, **metadata}
    session.flush()
    return case


def _add_matches(session: Session, case: Case, matches: Sequence[BankMatch]) -> None:
    held = select(CaseMatch.signal_id, CaseMatch.query_signal).where(CaseMatch.case_id == case.id)
    existing = {(signal_id, query) for signal_id, query in session.execute(held)}
    for match in matches:
        key = (match.signal_id, match.query_signal)
        if key in existing:
            continue
        existing.add(key)
        session.add(
            CaseMatch(
                case_id=case.id,
                bank_id=match.bank_id,
                bank_name=match.bank,
                content_id=match.content_id,
                signal_id=match.signal_id,
                signal_type=match.signal_type,
                signal=match.signal,
                query_signal=match.query_signal,
                distance=match.distance,
                quality=match.quality,
                tags=list(match.tags),
                variant=match.variant,
                detail=match.detail,
            )
        )
    session.flush()
    session.refresh(case, ["matches"])


def set_priority(session: Session, case: Case, taxonomy: Taxonomy | None = None) -> None:
    """Set the case's stored priority and its reasons from its matches."""
    bank_ids = {m.bank_id for m in case.matches}
    trust = {
        bank_id: points
        for bank_id, points in session.execute(
            select(Bank.id, Bank.trust).where(Bank.id.in_(bank_ids))
        )
    }
    case.priority, reasons = case_priority(case.matches, taxonomy or shipped_taxonomy(), trust)
    case.priority_reasons = [r.to_dict() for r in reasons]


def absorb_follow_up(session: Session, case: Case, taxonomy: Taxonomy | None = None) -> None:
    """Before `case` is unresolved again (its waiting decision undone), take in the
    follow-up case its upload got meanwhile: one upload, one case in the queue."""
    follow_up = session.scalar(
        select(Case).where(
            Case.content_ref == case.content_ref,
            Case.id != case.id,
            Case.status.in_(OPEN_STATUSES),
        )
    )
    if follow_up is None:
        return
    session.execute(
        update(CaseMatch).where(CaseMatch.case_id == follow_up.id).values(case_id=case.id)
    )
    if case.media is None and follow_up.media is not None:
        follow_up.media.case_id = case.id
    session.flush()
    session.delete(follow_up)
    session.flush()
    session.refresh(case, ["matches", "media"])
    set_priority(session, case, taxonomy)
    audit.record(session, "hma", audit.CASE_MERGED, f"case:{case.id}", {"absorbed": follow_up.id})


def _claim_case(session: Session, content_ref: str, metadata: dict[str, Any]) -> int:
    """The id of the case for `content_ref` awaiting review, locked for this transaction.

    A case whose decision waits (status pending) is not one: `record_matches`
    leaves it alone.
    """
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


def get_case(session: Session, case_id: int, queues: Collection[str] | None = None) -> Case:
    """The case, if it exists and is in one of `queues` (None: any queue)."""
    case = session.scalar(
        select(Case)
        .where(Case.id == case_id)
        .options(selectinload(Case.matches), selectinload(Case.decisions))
    )
    if case is None or (queues is not None and case.queue not in queues):
        # A case of a queue the caller is not in is, to them, no case at all.
        raise CaseNotFound(f"no case {case_id}")
    return case


def matched_keywords(case: Case) -> list[str]:
    """The bank keywords the case's text matched: what a reviewer's screen marks in it."""
    return [m.signal for m in case.matches if m.signal_type == KEYWORD.name]


def explain(case: Case, now: datetime | None = None) -> tuple[int, list[dict[str, Any]]]:
    """The case's current score and every reason for it, age included."""
    age = age_reason(case.created_at, now or utcnow())
    return case.priority + age.points, [*case.priority_reasons, age.to_dict()]


def match_sources(session: Session, case: Case) -> dict[int, dict[str, Any]]:
    """Where each matched bank content came from: exchange, upstream id, opinions.

    Read at display time, not copied into the case: an exchange's opinions
    keep changing after the match, and the reviewer should see the latest.
    Content deleted since the match is simply absent.
    """
    content_ids = {m.content_id for m in case.matches}
    if not content_ids:
        return {}
    rows = session.execute(
        select(BankContent.id, Exchange.name, BankContent.upstream_id, BankContent.details)
        .outerjoin(Exchange, BankContent.exchange_id == Exchange.id)
        .where(BankContent.id.in_(content_ids))
    )
    return {
        content_id: {
            "exchange": exchange,
            "upstream_id": upstream_id,
            "opinions": list((details or {}).get("opinions", [])),
        }
        for content_id, exchange, upstream_id, details in rows
    }
