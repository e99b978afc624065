"""Deleting what is no longer needed: case media, closed cases, their metadata.

Kept copies of matched media are images of abuse, and closed cases hold the
platform's metadata about its users' uploads. The program this serves asks
for data minimisation, so nothing here is kept for ever by default:

- the kept copy of an upload a reviewer *rejected* (not abuse) is deleted
  when the rejection takes effect (`actioners.review`), unless
  `keep_rejected_media` is set;
- the kept copy of any closed case is deleted `media_days` after it closed;
- a closed case, with its matches, decisions, media, metadata, exposures and
  delivered notices, is deleted `case_days` after it closed. A case whose
  webhook or exchange feedback is still waiting to go out is kept until it
  has gone (or failed for good).

What remains: the audit log (each decision's entry, and one `retention.run`
entry per run with the counts) and the figures already reported. A period
0 keeps that kind of data for ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from actioners.models import Case, CaseMedia, CaseOriginal, CaseText, Exposure, WebhookDelivery
from banks.models import ExchangeFeedback
from core.names import CaseStatus, Verdict
from database import audit, utcnow

#: Rows deleted per statement, so that one run never holds a long lock.
BATCH = 1000


@dataclass(frozen=True)
class RetentionPolicy:
    #: Keep the copy of a rejected upload after the rejection takes effect.
    keep_rejected_media: bool = False
    #: Days a closed case's kept copy lasts (0: for ever).
    media_days: int = 90
    #: Days a closed case lasts, with everything about it (0: for ever).
    case_days: int = 730


@dataclass
class RetentionReport:
    media_deleted: int = 0
    cases_deleted: int = 0
    #: Cases past their time but kept because a notice to the platform or an
    #: exchange is still waiting to go out.
    cases_waiting: int = 0


def run(session: Session, policy: RetentionPolicy, now: datetime | None = None) -> RetentionReport:
    """Delete what is due in the caller's transaction, and audit the run once."""
    now = now or utcnow()
    report = RetentionReport()
    if policy.media_days > 0:
        report.media_deleted = _delete_media(session, now - timedelta(days=policy.media_days))
    if not policy.keep_rejected_media:
        report.media_deleted += _delete_media(session, None, decision=Verdict.REJECT)
    if policy.case_days > 0:
        report.cases_deleted, report.cases_waiting = _delete_cases(
            session, now - timedelta(days=policy.case_days)
        )
    audit.record(
        session,
        "hma",
        audit.RETENTION_RUN,
        "retention",
        {
            "media_deleted": report.media_deleted,
            "cases_deleted": report.cases_deleted,
            "cases_waiting": report.cases_waiting,
            "media_days": policy.media_days,
            "case_days": policy.case_days,
        },
    )
    return report


#: What a case keeps of the upload: the reduced copy and the post's text for its
#: reviewers, the original (sealed) for its report.
KEPT_FOR_REVIEW = (CaseMedia, CaseText, CaseOriginal)
#: Set in `Session.info` by a transaction that deleted kept copies: once it commits,
#: the application makes the database give up the pages that held them (SQLite's
#: write-ahead log keeps them until a checkpoint).
MEDIA_DELETED = "hma.media_deleted"


def delete_original(session: Session, case_id: int) -> None:
    """The upload kept to be reported, at once (its case rejected, or reported)."""
    session.execute(delete(CaseOriginal).where(CaseOriginal.case_id == case_id))
    session.info[MEDIA_DELETED] = True


def delete_case_media(session: Session, case_id: int) -> None:
    """The kept copy and text of one case, at once (a rejection that took effect)."""
    for model in KEPT_FOR_REVIEW:
        session.execute(delete(model).where(model.case_id == case_id))
    session.info[MEDIA_DELETED] = True


def _delete_media(session: Session, closed_before: datetime | None, decision: str = "") -> int:
    deleted = 0
    for model in KEPT_FOR_REVIEW:
        query = (
            select(model.id)
            .join(Case, Case.id == model.case_id)
            .where(Case.status == CaseStatus.CLOSED)
        )
        if closed_before is not None:
            query = query.where(Case.closed_at < closed_before)
        if decision:
            query = query.where(Case.decision == decision)
        while ids := list(session.scalars(query.limit(BATCH))):
            session.execute(delete(model).where(model.id.in_(ids)))
            deleted += len(ids)
    if deleted:
        session.info[MEDIA_DELETED] = True
    return deleted


def _delete_cases(session: Session, closed_before: datetime) -> tuple[int, int]:
    """Closed cases past their time, unless a notice about them is still owed."""
    due = select(Case.id).where(Case.status == CaseStatus.CLOSED, Case.closed_at < closed_before)
    waiting_webhooks = select(WebhookDelivery.case_id).where(WebhookDelivery.status == "pending")
    waiting_feedback = select(ExchangeFeedback.case_id).where(ExchangeFeedback.status == "pending")
    waiting = list(
        session.scalars(due.where(Case.id.in_(waiting_webhooks.union(waiting_feedback))))
    )
    deletable = due.where(Case.id.not_in(waiting)) if waiting else due
    deleted = 0
    while ids := list(session.scalars(deletable.limit(BATCH))):
        session.execute(delete(Exposure).where(Exposure.case_id.in_(ids)))
        session.execute(delete(ExchangeFeedback).where(ExchangeFeedback.case_id.in_(ids)))
        # Matches, decisions, media and webhook deliveries go with the case (ON DELETE CASCADE).
        session.execute(delete(Case).where(Case.id.in_(ids)))
        deleted += len(ids)
    return deleted, len(waiting)
