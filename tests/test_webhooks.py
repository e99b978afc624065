"""Decision webhooks: queued once per decision, signed, sent to a real local server, retried."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import update

from actioners import webhooks
from actioners.models import Case, CaseDecision, CaseMatch, WebhookDelivery
from database import utcnow
from hma.db import Database
from hma.scheduler import Scheduler
from hma.settings import load_settings
from tests.conftest import loopback_egress

SECRET = "whsec-test-0123456789abcdef"
DECIDED_AT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
EFFECTIVE_AT = DECIDED_AT + timedelta(seconds=60)


# A platform endpoint ----------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Platform:
    """A real HTTP server on 127.0.0.1 that records requests; answers 500 `failures` times."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.failures = 0
        self.status = 204
        self.location = ""
        self.delay = 0.0
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                platform.received.append(
                    Received(
                        self.command,
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        self.rfile.read(length),
                    )
                )
                if platform.delay:
                    time.sleep(platform.delay)
                status = platform.status
                if platform.failures > 0:
                    platform.failures -= 1
                    status = 500
                self.send_response(status)
                if platform.location:
                    self.send_header("Location", platform.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/hma"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def platform() -> Iterator[Platform]:
    server = Platform()
    yield server
    server.close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port just bound and released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/hma"


# Cases built directly through the ORM --------------------------------------------------


def decided_case(
    database: Database,
    content_ref: str = "upload-1",
    *,
    decision: str = "confirm",
    state: str = "effective",
) -> tuple[int, int]:
    """A closed case with two matches and one decision; (case id, decision id)."""
    with database.session() as session:
        case = Case(content_ref=content_ref, status="closed", decision=decision, closed_at=utcnow())
        session.add(case)
        session.flush()
        for signal_id, (bank, distance, tags) in enumerate(
            [("csam-hashes", 4, ["csam", "A1"]), ("partner-list", 12, [])], start=1
        ):
            session.add(
                CaseMatch(
                    case_id=case.id,
                    bank_id=signal_id,
                    bank_name=bank,
                    content_id=signal_id * 10,
                    signal_id=signal_id,
                    signal_type="pdq",
                    signal=f"{signal_id:064x}",
                    query_signal="f" * 64,
                    distance=distance,
                    tags=tags,
                )
            )
        record = CaseDecision(
            case_id=case.id,
            decision=decision,
            note="seen before",
            decided_by="token:alice",
            created_at=DECIDED_AT,
            classification=["A1"] if decision == "confirm" else [],
            reason=None if decision == "confirm" else "not_csam",
            state=state,
            effective_at=EFFECTIVE_AT,
            approved_by="token:bob",
        )
        session.add(record)
        session.flush()
        return case.id, record.id


def queue(database: Database, case_id: int, decision_id: int, url: str) -> int | None:
    with database.session() as session:
        case = session.get_one(Case, case_id)
        decision = session.get_one(CaseDecision, decision_id)
        delivery = webhooks.queue_webhook(session, case, decision, url)
        return delivery.id if delivery is not None else None


def deliver(database: Database, url: str, **kwargs: Any) -> webhooks.WebhookReport:
    options: dict[str, Any] = {"secret": SECRET, "timeout": 5.0, "max_attempts": 12} | kwargs
    return webhooks.deliver_due(database.sessions, loopback_egress(), url, **options)


def delivery(database: Database, delivery_id: int) -> WebhookDelivery:
    with database.session() as session:
        return session.get_one(WebhookDelivery, delivery_id)


def make_due(database: Database, delivery_id: int) -> None:
    with database.session() as session:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


def valid_signature(body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


# Tests ------------------------------------------------------------------------------------


def test_a_delivery_reaches_the_platform_signed(database, platform):
    case_id, decision_id = decided_case(database)
    delivery_id = queue(database, case_id, decision_id, platform.url)
    assert delivery_id is not None

    report = deliver(database, platform.url)

    assert report == webhooks.WebhookReport(delivered=1)
    [request] = platform.received
    assert (request.method, request.path) == ("POST", "/hooks/hma")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "hma-webhook"
    assert request.headers["x-hma-event"] == "case.decided"
    assert request.headers["x-hma-delivery"] == str(delivery_id)
    assert valid_signature(request.body, request.headers["x-hma-signature"])
    assert not valid_signature(request.body + b" ", request.headers["x-hma-signature"])

    body = json.loads(request.body)
    assert body == {
        "event": "case.decided",
        "case_id": case_id,
        "decision_id": decision_id,
        "content_ref": "upload-1",
        "decision": "confirm",
        "classification": ["A1"],
        "reason": None,
        "note": "seen before",
        "decided_by": "token:alice",
        "approved_by": "token:bob",
        "decided_at": "2024-05-06T07:08:09+00:00",
        "effective_at": "2024-05-06T07:09:09+00:00",
        "matches": [
            {"bank": "csam-hashes", "signal_type": "pdq", "distance": 4, "tags": ["csam", "A1"]},
            {"bank": "partner-list", "signal_type": "pdq", "distance": 12, "tags": []},
        ],
    }
    # Compact, keys sorted, and no signal values or media.
    assert request.body == json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert b"f" * 64 not in request.body

    row = delivery(database, delivery_id)
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == (
        "delivered",
        1,
        204,
        None,
    )
    assert row.delivered_at is not None
    with database.session() as session:
        assert [d.id for d in webhooks.deliveries_for(session, case_id)] == [delivery_id]
        assert webhooks.deliveries_for(session, case_id + 1000) == []
    # Delivered is final: another run sends nothing.
    assert deliver(database, platform.url) == webhooks.WebhookReport()
    assert len(platform.received) == 1


def test_a_server_error_is_retried_with_the_same_body(database, platform):
    case_id, decision_id = decided_case(database)
    delivery_id = queue(database, case_id, decision_id, platform.url)
    platform.failures = 1

    before = utcnow()
    assert deliver(database, platform.url) == webhooks.WebhookReport(retrying=1)
    row = delivery(database, delivery_id)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
    assert "500" in (row.last_error or "")
    assert before + timedelta(seconds=15) <= row.next_attempt_at <= utcnow() + timedelta(seconds=15)

    # Not due yet: nothing is sent.
    assert deliver(database, platform.url) == webhooks.WebhookReport()
    assert len(platform.received) == 1

    make_due(database, delivery_id)
    assert deliver(database, platform.url) == webhooks.WebhookReport(delivered=1)
    first, second = platform.received
    assert first.body == second.body
    assert first.headers["x-hma-delivery"] == second.headers["x-hma-delivery"] == str(delivery_id)
    row = delivery(database, delivery_id)
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == (
        "delivered",
        2,
        204,
        None,
    )


def test_a_refused_connection_is_retried_not_raised(database):
    url = closed_port_url().replace("http://", f"http://hook:{SECRET}@")
    case_id, decision_id = decided_case(database)
    delivery_id = queue(database, case_id, decision_id, url)

    assert deliver(database, url) == webhooks.WebhookReport(retrying=1)
    row = delivery(database, delivery_id)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, None)
    assert row.last_error
    assert SECRET not in row.last_error


def test_a_timeout_and_a_redirect_are_failures(database, platform):
    case_id, decision_id = decided_case(database)
    delivery_id = queue(database, case_id, decision_id, platform.url)

    platform.delay = 1.0
    assert deliver(database, platform.url, timeout=0.2) == webhooks.WebhookReport(retrying=1)
    assert delivery(database, delivery_id).last_status_code is None

    platform.delay = 0.0
    platform.status, platform.location = 302, platform.url + "/elsewhere"
    make_due(database, delivery_id)
    assert deliver(database, platform.url) == webhooks.WebhookReport(retrying=1)
    assert [r.path for r in platform.received] == ["/hooks/hma", "/hooks/hma"]
    row = delivery(database, delivery_id)
    assert (row.attempts, row.last_status_code) == (2, 302)
    # The second failure waits twice as long as the first.
    assert row.next_attempt_at >= utcnow() + timedelta(seconds=25)


def test_after_max_attempts_a_delivery_fails(database, platform):
    case_id, decision_id = decided_case(database)
    delivery_id = queue(database, case_id, decision_id, platform.url)
    platform.failures = 100

    assert deliver(database, platform.url, max_attempts=2) == webhooks.WebhookReport(retrying=1)
    make_due(database, delivery_id)
    assert deliver(database, platform.url, max_attempts=2) == webhooks.WebhookReport(failed=1)
    row = delivery(database, delivery_id)
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 2, 500)
    assert row.delivered_at is None

    make_due(database, delivery_id)
    assert deliver(database, platform.url, max_attempts=2) == webhooks.WebhookReport()
    assert len(platform.received) == 2


def test_nothing_is_sent_before_a_delivery_is_due(database, platform):
    case_id, decision_id = decided_case(database)
    delivery_id = queue(database, case_id, decision_id, platform.url)
    later = utcnow() + timedelta(minutes=5)
    with database.session() as session:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(next_attempt_at=later)
        )

    assert deliver(database, platform.url) == webhooks.WebhookReport()
    assert platform.received == []
    row = delivery(database, delivery_id)
    assert (row.status, row.attempts) == ("pending", 0)
    # Without a URL nothing is attempted at all, due or not.
    make_due(database, delivery_id)
    assert deliver(database, "") == webhooks.WebhookReport()
    assert delivery(database, delivery_id).attempts == 0


def test_queueing_is_once_per_decision_and_needs_a_url(database, platform):
    case_id, decision_id = decided_case(database)
    other_case, other_decision = decided_case(database, "upload-2", decision="reject")

    assert queue(database, case_id, decision_id, "") is None
    with database.session() as session:
        case, decision = session.get_one(Case, case_id), session.get_one(CaseDecision, decision_id)
        assert webhooks.queue_webhook(session, case, decision, False) is None
    with database.session() as session:
        assert webhooks.deliveries_for(session, case_id) == []

    first = queue(database, case_id, decision_id, platform.url)
    assert first is not None
    assert queue(database, case_id, decision_id, platform.url) is None
    second = queue(database, other_case, other_decision, platform.url)
    assert second is not None and second != first
    with database.session() as session:
        [row] = webhooks.deliveries_for(session, case_id)
        assert (row.id, row.decision_id, row.status, row.attempts) == (
            first,
            decision_id,
            "pending",
            0,
        )
        assert row.next_attempt_at <= utcnow()
        assert json.loads(row.body)["reason"] is None
        assert json.loads(delivery(database, second).body)["reason"] == "not_csam"

    assert deliver(database, platform.url) == webhooks.WebhookReport(delivered=2)


def test_a_decision_not_in_effect_is_refused(database, platform):
    case_id, decision_id = decided_case(database, state="pending")
    with pytest.raises(ValueError, match="in effect"):
        queue(database, case_id, decision_id, platform.url)
    other_case, _ = decided_case(database, "upload-2")
    with pytest.raises(ValueError, match="not on case"):
        queue(database, other_case, decision_id, platform.url)
    with database.session() as session:
        assert webhooks.deliveries_for(session, case_id) == []


def test_sign_matches_an_independent_hmac():
    body = b'{"event":"case.decided"}'
    expected = hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert webhooks.sign(body, "k") == f"sha256={expected}"


def test_the_scheduler_job_sends_due_webhooks(database, platform, tmp_path):
    case_id, decision_id = decided_case(database)
    delivery_id = queue(database, case_id, decision_id, platform.url)
    settings = load_settings(
        environ={"HMA_WEBHOOK_URL": platform.url, "HMA_WEBHOOK_SECRET": SECRET},
        data_dir=tmp_path,
    )
    assert SECRET not in repr(settings)
    scheduler = Scheduler(settings, database, None, loopback_egress())

    scheduler.webhooks()

    [request] = platform.received
    assert valid_signature(request.body, request.headers["x-hma-signature"])
    assert delivery(database, delivery_id).status == "delivered"


def test_without_the_scheduler_the_cli_finalises_and_delivers(database, platform, hma, monkeypatch):
    """`hma review finalise` then `hma review deliver`: the cron path of a deployment
    that runs `hma serve` with its scheduler off."""
    case_id, decision_id = decided_case(database, state="pending")
    with database.session() as session:
        session.execute(update(Case).where(Case.id == case_id).values(status="pending"))
    monkeypatch.setenv("HMA_WEBHOOK_URL", platform.url)
    monkeypatch.setenv("HMA_WEBHOOK_SECRET", SECRET)
    finalised = hma("review", "finalise")
    assert finalised.exit_code == 0 and "1 decision(s) took effect" in finalised.stderr
    assert platform.received == []  # queued, not yet sent
    delivered = hma("review", "deliver")
    assert delivered.exit_code == 0 and "delivered=1" in delivered.stderr
    [request] = platform.received
    assert json.loads(request.body)["decision_id"] == decision_id
    assert valid_signature(request.body, request.headers["x-hma-signature"])
