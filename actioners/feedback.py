"""Queueing feedback for the exchanges whose signals a decided case matched.

Only a person's decision queues feedback, and only once it has taken effect
(after the undo window and any second reviewer; see `actioners.review`): a
confirmation tells the exchange "seen this too", a rejection "this is a
false positive". Exchanges a curator opted out of feedback for get none.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from actioners.models import Case
from banks.models import BankContent, Exchange, ExchangeFeedback
from core.names import Verdict
from database import utcnow

VERDICTS: dict[str, str] = {Verdict.CONFIRM: "positive", Verdict.REJECT: "negative"}


def queue_exchange_feedback(
    session: Session, case: Case, decision: str, delay_seconds: float
) -> int:
    """Queue one feedback row per exchange-sourced content the case matched; how many."""
    verdict = VERDICTS.get(decision)
    if verdict is None:
        return 0
    content_ids = {m.content_id for m in case.matches}
    if not content_ids:
        return 0
    rows = session.execute(
        select(BankContent, Exchange)
        .join(Exchange, BankContent.exchange_id == Exchange.id)
        .where(BankContent.id.in_(content_ids), Exchange.feedback_enabled)
        .options(selectinload(BankContent.signals))
    ).all()
    already = set(
        session.scalars(
            select(ExchangeFeedback.content_id).where(ExchangeFeedback.case_id == case.id)
        )
    )
    due = utcnow() + timedelta(seconds=delay_seconds)
    queued = 0
    for content, _exchange in rows:
        if content.id in already or content.upstream_id is None:
            continue
        session.add(ExchangeFeedback.about(content, case.id, verdict, due))
        queued += 1
    session.flush()
    return queued
