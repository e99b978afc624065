"""Review metrics, transparency figures and the Prometheus endpoint, on real rows."""

from __future__ import annotations

import csv
import io
import math
import re
from datetime import UTC, datetime, timedelta

import pytest

from actioners import metrics
from actioners.models import Case, CaseDecision, CaseMatch, WebhookDelivery
from banks.models import Bank, BankContent, BankSignal, Exchange, ExchangeFeedback
from database import utcnow

JAN = datetime(2024, 1, 1, tzinfo=UTC)
FEB = datetime(2024, 2, 1, tzinfo=UTC)
MAR = datetime(2024, 3, 1, tzinfo=UTC)


def add_case(
    session,
    ref: str,
    created_at: datetime,
    status: str = "open",
    signal_types: tuple[str, ...] = ("pdq",),
    **fields,
) -> Case:
    case = Case(content_ref=ref, status=status, created_at=created_at, **fields)
    session.add(case)
    session.flush()
    for n, signal_type in enumerate(signal_types):
        session.add(
            CaseMatch(
                case_id=case.id,
                bank_id=1,
                bank_name="known",
                content_id=n + 1,
                signal_id=n + 1,
                signal_type=signal_type,
                signal=f"s{n}",
                query_signal=f"q{n}",
                distance=0,
            )
        )
    session.flush()
    return case


def add_decision(
    session, case: Case, decision: str, by: str, at: datetime, state: str = "effective"
) -> CaseDecision:
    record = CaseDecision(
        case_id=case.id, decision=decision, decided_by=by, created_at=at, state=state
    )
    session.add(record)
    session.flush()
    return record


def close(session, case: Case, decision: str, by: str, at: datetime, state="effective") -> None:
    """A final decision that closed `case` at `at`."""
    case.status, case.decision, case.closed_at = "closed", decision, at
    add_decision(session, case, decision, by, at, state)


# The queue ----------------------------------------------------------------------


def test_empty_queue(database):
    with database.session() as session:
        snapshot = metrics.queue_snapshot(session, utcnow())
    assert snapshot.by_status == {"open": 0, "escalated": 0, "pending": 0}
    assert snapshot.oldest_age_seconds is None
    assert snapshot.claimed == 0


def test_queue_depth_oldest_age_and_claims(database):
    now = datetime(2024, 6, 1, 12, tzinfo=UTC)
    with database.session() as session:
        add_case(session, "a", now - timedelta(seconds=100))
        add_case(
            session,
            "b",
            now - timedelta(seconds=50),
            claimed_by="alice",
            lease_expires_at=now - timedelta(seconds=1),  # expired: back in the queue
        )
        add_case(
            session,
            "c",
            now - timedelta(seconds=300.5),
            status="escalated",
            claimed_by="bob",
            lease_expires_at=now + timedelta(minutes=5),
        )
        # Older, but not waiting for a reviewer.
        add_case(session, "d", now - timedelta(days=1), status="pending")
        add_case(session, "e", now - timedelta(days=9), status="closed", decision="reject")
    with database.session() as session:
        snapshot = metrics.queue_snapshot(session, now)
    assert snapshot.by_status == {"open": 2, "escalated": 1, "pending": 1}
    assert snapshot.oldest_age_seconds == pytest.approx(300.5)
    assert snapshot.claimed == 1
    assert snapshot.to_json()["oldest_age_seconds"] == pytest.approx(300.5)


# Decisions ------------------------------------------------------------------------


def seed_decisions(database) -> None:
    """Ten effective decisions in January, 10 to 100 seconds after their case opened."""
    with database.session() as session:
        for n in range(10):
            opened = JAN + timedelta(days=n + 1)
            case = add_case(session, f"jan-{n}", opened)
            decision = ("confirm", "confirm", "reject", "escalate")[n % 4]
            by = "token:alice" if n < 6 else "token:bob"
            add_decision(session, case, decision, by, opened + timedelta(seconds=10 * (n + 1)))
        # Outside the period, and not in effect: none of these count as decisions.
        late = add_case(session, "feb", FEB + timedelta(days=2))
        add_decision(session, late, "confirm", "token:alice", FEB + timedelta(days=2, hours=1))
        early = add_case(session, "dec", JAN - timedelta(days=3))
        add_decision(session, early, "reject", "token:bob", JAN - timedelta(seconds=1))
        waiting = add_case(session, "pending", JAN + timedelta(days=20))
        add_decision(
            session,
            waiting,
            "confirm",
            "token:carol",
            JAN + timedelta(days=20, minutes=1),
            "pending",
        )
        second = add_case(session, "two-person", JAN + timedelta(days=21))
        add_decision(
            session,
            second,
            "confirm",
            "token:carol",
            JAN + timedelta(days=21, minutes=1),
            "awaiting_second",
        )
        taken_back = add_case(session, "undone", JAN + timedelta(days=22))
        add_decision(
            session,
            taken_back,
            "reject",
            "token:bob",
            JAN + timedelta(days=22, seconds=5),
            "undone",
        )


def test_decision_stats_by_type_reviewer_and_time(database):
    seed_decisions(database)
    with database.session() as session:
        stats = metrics.decision_stats(session, JAN, FEB)
    # n % 4 over 0..9: confirm for 0,1,4,5,8,9; reject for 2,6; escalate for 3,7.
    assert stats.by_decision == {"confirm": 6, "reject": 2, "escalate": 2}
    assert stats.total == 10
    assert stats.by_reviewer == {
        ("token:alice", "confirm"): 4,
        ("token:alice", "reject"): 1,
        ("token:alice", "escalate"): 1,
        ("token:bob", "confirm"): 2,
        ("token:bob", "reject"): 1,
        ("token:bob", "escalate"): 1,
    }
    ttd = stats.time_to_decision
    assert ttd.count == 10
    # Durations 10, 20, ..., 100 s: interpolated between ranks.
    assert ttd.quantiles[0.5] == pytest.approx(55.0, abs=0.01)
    assert ttd.quantiles[0.9] == pytest.approx(91.0, abs=0.01)
    assert ttd.mean_seconds == pytest.approx(55.0, abs=0.01)
    assert ttd.total_seconds == pytest.approx(550.0, abs=0.1)
    assert stats.undone == 1
    body = stats.to_json()
    assert body["by_reviewer"]["token:bob"] == {"confirm": 2, "escalate": 1, "reject": 1}
    assert body["time_to_decision"]["p90_seconds"] == pytest.approx(91.0, abs=0.01)


def test_decision_stats_all_time_and_empty_period(database):
    seed_decisions(database)
    with database.session() as session:
        everything = metrics.decision_stats(session)
        nothing = metrics.decision_stats(session, MAR, MAR + timedelta(days=1))
    assert everything.total == 12
    assert everything.by_reviewer[("token:alice", "confirm")] == 5
    assert "token:carol" not in {who for who, _ in everything.by_reviewer}
    assert nothing.by_decision == {"confirm": 0, "reject": 0, "escalate": 0}
    assert nothing.time_to_decision.count == 0
    assert nothing.to_json()["time_to_decision"] == {
        "count": 0,
        "p50_seconds": None,
        "p90_seconds": None,
        "mean_seconds": None,
    }


def test_percentile_interpolates():
    assert metrics.percentile([5.0], 0.9) == 5.0
    assert metrics.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == pytest.approx(2.5)
    assert metrics.percentile([1.0, 2.0, 3.0, 4.0], 0.9) == pytest.approx(3.7)
    with pytest.raises(ValueError):
        metrics.percentile([], 0.5)


# Transparency ------------------------------------------------------------------------


def seed_transparency(database) -> None:
    with database.session() as session:
        bank = Bank(name="followed")
        session.add(bank)
        session.flush()
        exchange = Exchange(name="peer", type="list", bank_id=bank.id)
        session.add(exchange)
        session.flush()
        for created_at, kinds in [
            (JAN + timedelta(days=1), ("url", "account")),
            (JAN + timedelta(days=2), ("url",)),
            (FEB + timedelta(days=1), ("keyword",)),
        ]:
            content = BankContent(bank_id=bank.id, created_at=created_at)
            content.signals = [
                BankSignal(bank_id=bank.id, signal_type=kind, value=f"{kind}:{created_at}")
                for kind in kinds
            ]
            session.add(content)

        actioned = add_case(session, "a", JAN + timedelta(days=2), signal_types=("pdq", "md5"))
        close(session, actioned, "confirm", "token:alice", JAN + timedelta(days=3))
        # Counted once per kind of signal: two URL matches make one URL case.
        actioned2 = add_case(
            session, "b", JAN + timedelta(days=4), signal_types=("url", "keyword", "url")
        )
        close(session, actioned2, "confirm", "token:bob", JAN + timedelta(days=5))
        rejected = add_case(session, "c", JAN + timedelta(days=6), signal_types=("vpdq",))
        close(session, rejected, "reject", "token:bob", JAN + timedelta(days=7))
        # An escalation earlier in the rejected case's life changes nothing.
        add_decision(session, rejected, "escalate", "token:alice", JAN + timedelta(days=6, hours=1))
        # Closed after the period, closed before it, and a closing not (yet) in effect.
        after = add_case(session, "d", JAN + timedelta(days=30), signal_types=("sha256",))
        close(session, after, "confirm", "token:alice", FEB + timedelta(hours=1))
        before = add_case(session, "e", JAN - timedelta(days=5), signal_types=("sha256",))
        close(session, before, "reject", "token:alice", JAN - timedelta(microseconds=1))
        waiting = add_case(session, "f", JAN + timedelta(days=8), signal_types=("md5",))
        close(session, waiting, "confirm", "token:alice", JAN + timedelta(days=9), "pending")
        add_case(session, "g", JAN + timedelta(days=10), signal_types=("pdq",))  # still open

        for n, (verdict, status, sent_at) in enumerate(
            [
                ("positive", "sent", JAN + timedelta(days=4)),
                ("positive", "sent", JAN + timedelta(days=6)),
                ("negative", "sent", JAN + timedelta(days=8)),
                ("positive", "sent", FEB + timedelta(days=1)),
                ("positive", "pending", None),
                ("negative", "failed", None),
            ]
        ):
            session.add(
                ExchangeFeedback(
                    exchange_id=exchange.id,
                    case_id=actioned.id,
                    content_id=n,
                    upstream_id=f"u{n}",
                    verdict=verdict,
                    status=status,
                    sent_at=sent_at,
                )
            )
        for n, (status, delivered_at) in enumerate(
            [
                ("delivered", JAN + timedelta(days=3, minutes=1)),
                ("delivered", JAN + timedelta(days=7, minutes=1)),
                ("delivered", FEB),  # the end is exclusive
                ("failed", None),
                ("pending", None),
            ]
        ):
            session.add(
                WebhookDelivery(
                    case_id=actioned.id,
                    decision_id=n,
                    body="{}",
                    status=status,
                    delivered_at=delivered_at,
                )
            )


EXPECTED_JANUARY = {
    "period": {"start": JAN.isoformat(), "end": FEB.isoformat()},
    "content_actioned": 2,
    "cases_rejected": 1,
    "matches_by_signal_type": {"keyword": 1, "md5": 1, "pdq": 1, "url": 2, "vpdq": 1},
    "content_actioned_by_signal_type": {"keyword": 1, "md5": 1, "pdq": 1, "url": 1},
    "cases_rejected_by_signal_type": {"vpdq": 1},
    "signals_added_by_signal_type": {"account": 1, "url": 2},
    "feedback_sent_by_verdict": {"positive": 2, "negative": 1},
    "webhooks_delivered": 2,
    "reports_finished": 0,
}


def test_transparency_counts_only_the_period(database):
    seed_transparency(database)
    with database.session() as session:
        report = metrics.transparency(session, JAN, FEB)
    assert report == EXPECTED_JANUARY
    with database.session() as session:
        february = metrics.transparency(session, FEB, MAR)
    assert february["content_actioned"] == 1 and february["cases_rejected"] == 0
    assert february["matches_by_signal_type"] == {"sha256": 1}
    assert february["content_actioned_by_signal_type"] == {"sha256": 1}
    assert february["signals_added_by_signal_type"] == {"keyword": 1}
    assert february["feedback_sent_by_verdict"] == {"positive": 1, "negative": 0}
    assert february["webhooks_delivered"] == 1


def test_transparency_csv_rows():
    rows = list(csv.reader(io.StringIO(metrics.transparency_csv(EXPECTED_JANUARY))))
    assert rows == [
        ["metric", "key", "value"],
        ["period", "start", "2024-01-01T00:00:00+00:00"],
        ["period", "end", "2024-02-01T00:00:00+00:00"],
        ["content_actioned", "", "2"],
        ["cases_rejected", "", "1"],
        ["matches_by_signal_type", "keyword", "1"],
        ["matches_by_signal_type", "md5", "1"],
        ["matches_by_signal_type", "pdq", "1"],
        ["matches_by_signal_type", "url", "2"],
        ["matches_by_signal_type", "vpdq", "1"],
        ["content_actioned_by_signal_type", "keyword", "1"],
        ["content_actioned_by_signal_type", "md5", "1"],
        ["content_actioned_by_signal_type", "pdq", "1"],
        ["content_actioned_by_signal_type", "url", "1"],
        ["cases_rejected_by_signal_type", "vpdq", "1"],
        ["signals_added_by_signal_type", "account", "1"],
        ["signals_added_by_signal_type", "url", "2"],
        ["feedback_sent_by_verdict", "positive", "2"],
        ["feedback_sent_by_verdict", "negative", "1"],
        ["webhooks_delivered", "", "2"],
        ["reports_finished", "", "0"],
    ]


# Prometheus -----------------------------------------------------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = rf'{_NAME}="(?:[^"\\\n]|\\[\\"n])*"'
_SAMPLE = re.compile(
    rf"^(?P<name>{_NAME})(?:\{{(?P<labels>{_LABEL}(?:,{_LABEL})*)?\}})?"
    r" (?P<value>NaN|[+-]Inf|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)$"
)
_COMMENT = re.compile(rf"^# (?:HELP {_NAME} .*|TYPE {_NAME} (?:counter|gauge|summary))$")
_ONE_LABEL = re.compile(rf'({_NAME})="((?:[^"\\\n]|\\[\\"n])*)"')


def parse_exposition(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a text exposition, checking each line's syntax on the way."""
    assert text.endswith("\n")
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    typed: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert _COMMENT.match(line), line
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ")
                assert name not in typed, f"second TYPE line for {name}"
                typed[name] = kind
            continue
        found = _SAMPLE.match(line)
        assert found, line
        name = found["name"]
        family = re.sub(r"_(?:sum|count)$", "", name)
        assert name in typed or family in typed, f"{name} has no TYPE line"
        labels = frozenset(
            (key, value.replace(r"\n", "\n").replace(r"\"", '"').replace("\\\\", "\\"))
            for key, value in _ONE_LABEL.findall(found["labels"] or "")
        )
        key = (name, labels)
        assert key not in samples, f"duplicate sample {key}"
        samples[key] = float(found["value"])
    return samples


def sample(samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_prometheus_text_format_and_escaping():
    awkward = 'token:say "hi"\\back\nslash'
    snapshot = metrics.QueueSnapshot(
        at=JAN,
        by_status={"open": 3, "escalated": 1, "pending": 0},
        oldest_age_seconds=12.5,
        claimed=1,
    )
    stats = metrics.DecisionStats(
        start=None,
        end=None,
        by_decision={"confirm": 2, "reject": 1, "escalate": 0},
        by_reviewer={(awkward, "confirm"): 2, ("token:bob", "reject"): 1},
        time_to_decision=metrics.DurationSummary.of([10.0, 20.0, 30.0]),
        undone=0,
    )
    text = metrics.prometheus_text(
        snapshot,
        stats,
        {"pending": 1, "delivered": 4, "failed": 0},
        {"sent": 2},
        indexed={"url": 10, "pdq": 7},
        by_signal_type={"confirm": {"url": 2, "keyword": 1}, "reject": {"pdq": 1}},
    )
    assert r'reviewer="token:say \"hi\"\\back\nslash"' in text
    samples = parse_exposition(text)
    assert sample(samples, "hma_review_queue_depth", status="open") == 3
    assert sample(samples, "hma_review_oldest_case_age_seconds") == 12.5
    assert sample(samples, "hma_review_decisions_total", decision="confirm", reviewer=awkward) == 2
    assert sample(samples, "hma_review_time_to_decision_seconds", quantile="0.5") == 20
    assert sample(samples, "hma_review_time_to_decision_seconds", quantile="0.9") == 28
    assert sample(samples, "hma_review_time_to_decision_seconds_sum") == 60
    assert sample(samples, "hma_review_time_to_decision_seconds_count") == 3
    assert sample(samples, "hma_webhook_deliveries", status="delivered") == 4
    assert sample(samples, "hma_exchange_feedback", status="sent") == 2
    assert sample(samples, "hma_indexed_signals", signal_type="url") == 10
    decided = "hma_review_decided_cases_total"
    assert sample(samples, decided, decision="confirm", signal_type="keyword") == 1
    assert sample(samples, decided, decision="reject", signal_type="pdq") == 1
    assert "# TYPE hma_review_decisions_total counter" in text
    assert "# TYPE hma_review_time_to_decision_seconds summary" in text


def test_prometheus_text_when_nothing_happened():
    snapshot = metrics.QueueSnapshot(
        at=JAN,
        by_status={"open": 0, "escalated": 0, "pending": 0},
        oldest_age_seconds=None,
        claimed=0,
    )
    stats = metrics.DecisionStats(None, None, {}, {}, metrics.DurationSummary.of([]), 0)
    samples = parse_exposition(metrics.prometheus_text(snapshot, stats))
    assert sample(samples, "hma_review_oldest_case_age_seconds") == 0
    assert math.isnan(sample(samples, "hma_review_time_to_decision_seconds", quantile="0.9"))
    assert sample(samples, "hma_review_time_to_decision_seconds_count") == 0


# HTTP ---------------------------------------------------------------------------------------


def scrape(api, role: str | None = "admin"):
    headers = {"Authorization": f"Bearer {api.tokens[role]}"} if role else {}
    return api.client.get("/metrics", headers=headers)


def error_code(response) -> str:
    return response.get_json()["error"]["code"]


def test_prometheus_endpoint_needs_an_admin_token(api):
    assert scrape(api, None).status_code == 401
    assert error_code(scrape(api, None)) == "unauthorized"
    assert scrape(api, "reviewer").status_code == 403
    assert error_code(scrape(api, "reviewer")) == "forbidden"
    bad = api.client.get("/metrics", headers={"Authorization": "Bearer hma_nope"})
    assert bad.status_code == 401


def test_prometheus_endpoint_reports_the_database(api, database):
    now = utcnow()
    with database.session() as session:
        queued = add_case(session, "queued", now - timedelta(hours=1))
        add_case(session, "later", now - timedelta(minutes=5), status="escalated")
        quoted = add_case(session, "quoted", now - timedelta(minutes=3))
        close(session, quoted, "reject", 'token:o"neil', now - timedelta(minutes=1))
        confirmed = add_case(session, "confirmed", now - timedelta(minutes=10))
        close(session, confirmed, "confirm", "token:alice", now - timedelta(minutes=9))
        session.add(WebhookDelivery(case_id=queued.id, decision_id=1, body="{}", status="failed"))
    response = scrape(api)
    assert response.status_code == 200
    assert response.content_type == "text/plain; version=0.0.4; charset=utf-8"
    text = response.get_data(as_text=True)
    assert 'reviewer="token:o\\"neil"' in text
    samples = parse_exposition(text)
    assert sample(samples, "hma_review_queue_depth", status="open") == 1
    assert sample(samples, "hma_review_queue_depth", status="escalated") == 1
    assert sample(samples, "hma_review_queue_depth", status="pending") == 0
    assert sample(samples, "hma_review_oldest_case_age_seconds") == pytest.approx(3600, abs=120)
    rejected = sample(
        samples, "hma_review_decisions_total", decision="reject", reviewer='token:o"neil'
    )
    assert rejected == 1
    confirmed = sample(
        samples, "hma_review_decisions_total", decision="confirm", reviewer="token:alice"
    )
    assert confirmed == 1
    assert sample(samples, "hma_review_time_to_decision_seconds_count") == 2
    assert sample(samples, "hma_review_time_to_decision_seconds_sum") == pytest.approx(180, abs=1)
    assert sample(samples, "hma_webhook_deliveries", status="failed") == 1
    decided = "hma_review_decided_cases_total"
    assert sample(samples, decided, decision="confirm", signal_type="pdq") == 1
    assert sample(samples, "hma_webhook_deliveries", status="delivered") == 0
    assert sample(samples, "hma_exchange_feedback", status="unsupported") == 0


def test_metrics_json(api, database):
    seed_decisions(database)
    response = api.get("/metrics?start=2024-01-01&end=2024-01-31")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["period"] == {"start": JAN.isoformat(), "end": FEB.isoformat()}
    assert body["decisions"]["by_decision"] == {"confirm": 6, "reject": 2, "escalate": 2}
    assert body["decisions"]["by_reviewer"]["token:alice"]["confirm"] == 4
    assert body["decisions"]["time_to_decision"]["p50_seconds"] == pytest.approx(55, abs=0.01)
    assert body["decisions"]["undone"] == 1
    # Rows seeded: ten January cases with open status plus the later ones.
    assert body["queue"]["by_status"]["open"] == 15
    # Datetimes with offsets are converted to UTC; only one decision is in this hour.
    narrow = api.get(
        "/metrics", query_string={"start": "2024-01-02T01:00:00+01:00", "end": "2024-01-02T00:01"}
    ).get_json()
    assert narrow["period"]["start"] == "2024-01-02T00:00:00+00:00"
    assert narrow["decisions"]["total"] == 1


def test_metrics_default_to_the_last_30_days(api, database):
    now = utcnow()
    with database.session() as session:
        recent = add_case(session, "recent", now - timedelta(days=2))
        add_decision(session, recent, "confirm", "token:alice", now - timedelta(days=1))
        old = add_case(session, "old", now - timedelta(days=40))
        add_decision(session, old, "confirm", "token:alice", now - timedelta(days=35))
    body = api.get("/metrics").get_json()
    assert body["decisions"]["total"] == 1
    start = datetime.fromisoformat(body["period"]["start"])
    end = datetime.fromisoformat(body["period"]["end"])
    assert end - start == timedelta(days=30)


@pytest.mark.parametrize(
    "query",
    [
        {"start": "yesterday"},
        {"end": "2024-13-01"},
        {"start": "2024-01-01T25:00"},
        {"start": "2024-02-01", "end": "2024-01-01"},
        {"start": "2024-01-01T10:00", "end": "2024-01-01T10:00"},
        {"end": "0001-01-01"},
        {"start": "9999-12-31", "end": "9999-12-31"},
    ],
)
def test_bad_periods_are_400(api, query):
    for path in ("/metrics", "/transparency"):
        response = api.get(path, query_string=query)
        assert response.status_code == 400, (path, query, response.get_json())
        assert error_code(response) == "invalid_period"


def test_metrics_routes_are_for_admins(api):
    for path in ("/metrics", "/transparency"):
        assert api.get(path, role="").status_code == 401
        assert api.get(path, role="reviewer").status_code == 403
        assert api.get(path, role="curator").status_code == 403


def test_transparency_json_and_csv(api, database):
    seed_transparency(database)
    period = {"start": "2024-01-01", "end": "2024-01-31"}
    as_json = api.get("/transparency", query_string=period)
    assert as_json.status_code == 200
    assert as_json.get_json() == EXPECTED_JANUARY
    as_csv = api.get("/transparency", query_string=period | {"format": "csv"})
    assert as_csv.status_code == 200
    assert as_csv.mimetype == "text/csv"
    disposition = as_csv.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "20240101T000000Z_20240201T000000Z" in disposition
    rows = list(csv.reader(io.StringIO(as_csv.get_data(as_text=True))))
    assert rows[0] == ["metric", "key", "value"]
    assert ["content_actioned", "", "2"] in rows
    assert ["feedback_sent_by_verdict", "negative", "1"] in rows
    bad = api.get("/transparency", query_string=period | {"format": "xml"})
    assert bad.status_code == 400 and error_code(bad) == "invalid_format"
