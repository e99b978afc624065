"""Sending queued feedback to exchanges, with retries and backoff.

Runs as a scheduler job (one at a time across processes: the caller holds the
feedback lock). A failed delivery is retried with exponential backoff, up to
`MAX_ATTEMPTS`; an exchange that takes no feedback has its rows marked
unsupported rather than retried forever.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from banks.exchanges.base import FeedbackItem
from banks.models import Exchange, ExchangeFeedback
from banks.sync import SyncEngine
from core.backoff import Backoff
from core.errors import ExchangeError, FeedbackUnsupported
from core.names import FeedbackStatus
from database import utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
#: First retry after 30 seconds, doubling up to six hours.
RETRY = Backoff(first=30, longest=6 * 3600)


@dataclass
class FeedbackReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    unsupported: int = 0


def send_due_feedback(engine: SyncEngine, limit: int = 500) -> FeedbackReport:
    """Send due feedback, one transaction per exchange.

    Each exchange's rows are marked in the transaction that sent them, so a
    failure at one exchange neither loses nor repeats another's deliveries.
    """
    report = FeedbackReport()
    with engine.sessions.begin() as session:
        due = session.execute(
            select(ExchangeFeedback.id, ExchangeFeedback.exchange_id)
            .where(
                ExchangeFeedback.status == FeedbackStatus.PENDING,
                ExchangeFeedback.next_attempt_at <= utcnow(),
            )
            .order_by(ExchangeFeedback.id)
            .limit(limit)
        ).all()
    by_exchange: dict[int, list[int]] = defaultdict(list)
    for row_id, exchange_id in due:
        by_exchange[exchange_id].append(row_id)
    for exchange_id, ids in by_exchange.items():
        with engine.sessions.begin() as session:
            rows = session.scalars(
                select(ExchangeFeedback)
                .where(
                    ExchangeFeedback.id.in_(ids), ExchangeFeedback.status == FeedbackStatus.PENDING
                )
                .order_by(ExchangeFeedback.id)
            ).all()
            if rows:
                _deliver(engine, session.get_one(Exchange, exchange_id), list(rows), report)
    return report


def _deliver(
    engine: SyncEngine, exchange: Exchange, rows: list[ExchangeFeedback], report: FeedbackReport
) -> None:
    now = utcnow()
    if not exchange.feedback_enabled:
        for row in rows:
            row.status, row.last_error = (
                FeedbackStatus.UNSUPPORTED,
                "feedback turned off for this exchange",
            )
        report.unsupported += len(rows)
        return
    items = [
        FeedbackItem(
            upstream_id=row.upstream_id,
            verdict=row.verdict,
            signals=tuple((str(kind), str(value)) for kind, value in row.detail["signals"]),
            metadata=dict(row.detail["metadata"])
            | {"review_tags": row.detail.get("review_tags", [])},
        )
        for row in rows
    ]
    try:
        engine.adapter_for(exchange).send_feedback(items)
    except FeedbackUnsupported as exc:
        for row in rows:
            row.status, row.last_error = FeedbackStatus.UNSUPPORTED, str(exc)
        report.unsupported += len(rows)
        return
    except ExchangeError as exc:
        log.warning("exchange %s: feedback not delivered: %s", exchange.name, exc)
        for row in rows:
            row.attempts += 1
            row.last_error = str(exc)
            if row.attempts >= MAX_ATTEMPTS:
                row.status = FeedbackStatus.FAILED
                report.failed += 1
            else:
                wait = RETRY.after(row.attempts)
                row.next_attempt_at = now + timedelta(seconds=wait)
                report.retrying += 1
        return
    for row in rows:
        row.status, row.sent_at, row.last_error = FeedbackStatus.SENT, now, None
        row.attempts += 1
    report.sent += len(rows)
