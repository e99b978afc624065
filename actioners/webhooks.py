"""Telling the platform about decisions: a signed JSON POST per decision, retried until answered.

A delivery is queued (`queue_webhook`) in the transaction that makes a
reviewer's decision take effect, never before: the platform acts on what it
is told, so a decision still inside its undo window, or awaiting a second
reviewer, is not announced. The body is fixed when it is queued, so every
retry sends the same bytes.

`deliver_due` sends the deliveries that are due, one at a time. Each is
claimed, sent and marked in separate short transactions: no transaction is
held open across the network call. A process that stops between the send and
the mark sends that delivery again later; none is ever lost. Receivers should
therefore treat `X-HMA-Delivery` as an idempotency key and ignore an id they
have already handled.

Receivers check `X-HMA-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw
body under the shared secret, with a constant-time comparison.

The module knows nothing of Flask or of the application's settings: callers
pass the URL, secret and limits in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from actioners.models import Case, CaseDecision, WebhookDelivery
from banks.egress import Egress
from core.backoff import Backoff
from core.errors import EgressFailed, EgressRefused
from core.names import DecisionState, DeliveryStatus
from database import utcnow

log = logging.getLogger(__name__)

EVENT = "case.decided"
USER_AGENT = "hma-webhook"
#: First retry after 15 seconds; each further one waits twice as long, up to an hour.
RETRY = Backoff(first=15, longest=3600)
#: A claimed delivery is due again this long after its request's timeout, should
#: the process that claimed it stop before recording the outcome.
CLAIM_GRACE_SECONDS = 60
#: Longest answer read from the platform (the body is not used).
MAX_ANSWER_BYTES = 1024 * 1024
#: Longest error text stored on a delivery.
MAX_ERROR = 500


# The body ---------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def body_for(case: Case, decision: CaseDecision) -> str:
    """The webhook's JSON for `decision` on `case`: compact, keys sorted, no media.

    The matches are described by bank, signal type, distance and tags only;
    neither the upload nor any signal value is included. `effective_at` is when
    the decision took effect (its decision time, if it took effect at once).
    """
    document: dict[str, Any] = {
        "event": EVENT,
        "case_id": case.id,
        # Signed, unlike the headers: receivers act once per decision_id, so a
        # captured notice replayed under another delivery id changes nothing.
        "decision_id": decision.id,
        "content_ref": case.content_ref,
        "decision": decision.decision,
        "classification": list(decision.classification or []),
        "reason": decision.reason,
        "note": decision.note,
        "decided_by": decision.decided_by,
        "approved_by": decision.approved_by,
        "decided_at": _iso(decision.created_at),
        "effective_at": _iso(decision.effective_at or decision.created_at),
        "matches": [
            {
                "bank": match.bank_name,
                "signal_type": match.signal_type,
                "distance": match.distance,
                "tags": list(match.tags or []),
            }
            for match in case.matches
        ],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign(body: bytes, secret: str) -> str:
    """The `X-HMA-Signature` value: "sha256=" and the hex HMAC-SHA256 of `body`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


# Queueing ---------------------------------------------------------------------------


def queue_webhook(
    session: Session, case: Case, decision: CaseDecision, enabled: bool | str = True
) -> WebhookDelivery | None:
    """Queue the platform's notice of `decision`, due now; the new row, or None.

    `enabled` is the configured webhook URL (or a flag): nothing is queued when
    it is empty or false, nor when this decision already has a delivery, so
    calling it twice for one decision sends one notice. Call it in the transaction that makes the
    decision take effect; a decision that has not (`state` other than
    "effective") is refused, so that nothing undone can reach the platform.
    """
    if not enabled:
        return None
    if decision.case_id != case.id:
        raise ValueError(f"decision {decision.id} is not on case {case.id}")
    if decision.state != DecisionState.EFFECTIVE:
        raise ValueError(
            f"decision {decision.id} is {decision.state!r}; only decisions in effect are sent"
        )
    already = session.scalar(
        select(WebhookDelivery.id).where(WebhookDelivery.decision_id == decision.id).limit(1)
    )
    if already is not None:
        return None
    delivery = WebhookDelivery(
        case_id=case.id,
        decision_id=decision.id,
        body=body_for(case, decision),
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    session.add(delivery)
    session.flush()
    return delivery


def deliveries_for(session: Session, case_id: int) -> list[WebhookDelivery]:
    """A case's webhook deliveries, oldest first (for showing their status on the case)."""
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.case_id == case_id)
            .order_by(WebhookDelivery.id)
        )
    )


# Delivering -------------------------------------------------------------------------


@dataclass
class WebhookReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


@dataclass
class _Outcome:
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def _post(
    egress: Egress, url: str, body: bytes, headers: dict[str, str], timeout: float
) -> _Outcome:
    """POST `body` once; a 2xx answer is success, anything else (a redirect
    included) an error, never raised."""
    try:
        answer = egress.send(
            "POST",
            url,
            headers=headers,
            body=body,
            timeout=timeout,
            max_bytes=MAX_ANSWER_BYTES,
            follow_redirects=False,
        )
    except (EgressRefused, EgressFailed) as exc:
        return _Outcome(None, str(exc))
    if 200 <= answer.status < 300:
        return _Outcome(answer.status, None)
    return _Outcome(answer.status, f"HTTP {answer.status}")


def _redact(text: str, url: str, secret: str) -> str:
    """`text` without the secret or any password in the URL, at most MAX_ERROR characters."""
    password = urlsplit(url).password
    for hidden in (secret, password):
        if hidden:
            text = text.replace(hidden, "[redacted]")
    return text[:MAX_ERROR]


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def _claim(sessions: sessionmaker[Session], delivery_id: int, lease: float) -> str | None:
    """Take a due delivery for this run; its body, or None if it is no longer due.

    Moving `next_attempt_at` past the request's timeout keeps another process
    from sending it at the same time, and makes it due again should this one
    stop before recording the outcome.
    """
    now = utcnow()
    with sessions.begin() as session:
        claimed = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + timedelta(seconds=lease))
        )
        if _rowcount(claimed) != 1:
            return None
        return session.scalar(select(WebhookDelivery.body).where(WebhookDelivery.id == delivery_id))


def _record(
    sessions: sessionmaker[Session],
    delivery_id: int,
    outcome: _Outcome,
    max_attempts: int,
    url: str,
    secret: str,
    report: WebhookReport,
) -> None:
    now = utcnow()
    with sessions.begin() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return  # the case was deleted meanwhile, or another run recorded it
        delivery.attempts += 1
        delivery.last_status_code = outcome.status_code
        if outcome.ok:
            delivery.status, delivery.delivered_at, delivery.last_error = (
                DeliveryStatus.DELIVERED,
                now,
                None,
            )
            report.delivered += 1
            return
        delivery.last_error = _redact(outcome.error or "", url, secret)
        if delivery.attempts >= max_attempts:
            delivery.status = DeliveryStatus.FAILED
            report.failed += 1
            log.warning(
                "webhook delivery %s (case %s) failed after %d attempts, giving up: %s",
                delivery.id,
                delivery.case_id,
                delivery.attempts,
                delivery.last_error,
            )
            return
        wait = RETRY.after(delivery.attempts)
        delivery.next_attempt_at = now + timedelta(seconds=wait)
        report.retrying += 1
        log.warning(
            "webhook delivery %s (case %s) not delivered (attempt %d of %d), retrying in %ds: %s",
            delivery.id,
            delivery.case_id,
            delivery.attempts,
            max_attempts,
            wait,
            delivery.last_error,
        )


def deliver_due(
    sessions: sessionmaker[Session],
    egress: Egress,
    url: str,
    secret: str,
    timeout: float,
    max_attempts: int,
    limit: int = 100,
) -> WebhookReport:
    """Send up to `limit` due pending deliveries to `url`, oldest due first.

    A 2xx answer marks a delivery delivered. Anything else (another status, a
    redirect, a timeout, a refused connection) counts an attempt and retries
    it after 15 s, 30 s, 60 s, ... at most an hour apart, until `max_attempts`
    attempts have failed: then it is marked failed. Nothing is raised for a
    delivery that did not go through.
    """
    report = WebhookReport()
    if not url:
        return report
    max_attempts = max(1, max_attempts)
    with sessions.begin() as session:
        due = list(
            session.scalars(
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.status == DeliveryStatus.PENDING,
                    WebhookDelivery.next_attempt_at <= utcnow(),
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
            )
        )
    for delivery_id in due:
        body = _claim(sessions, delivery_id, timeout + CLAIM_GRACE_SECONDS)
        if body is None:
            continue
        raw = body.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-HMA-Event": EVENT,
            "X-HMA-Delivery": str(delivery_id),
            "X-HMA-Signature": sign(raw, secret),
        }
        outcome = _post(egress, url, raw, headers, timeout)
        _record(sessions, delivery_id, outcome, max_attempts, url, secret, report)
    return report
