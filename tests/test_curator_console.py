"""The curator console through Flask's test client: every page and form, roles and
bad input. The browser test (tests/test_console_browser.py) walks the same pages
in chromium against a real server."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from accounts.users import create_user
from banks.models import BankContent, Exchange, ExchangeRun
from database.audit import AuditEntry
from hma.web import create_app
from hma.web.console.charts import bar_chart, line_chart
from tests.conftest import fixture_bytes
from tests.test_users import BOX, signed_in_client

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


class Console:
    """A signed-in browser stand-in that sends each form with the page's CSRF token."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.token = ""

    def get(self, path: str, **kwargs: Any) -> Any:
        answer = self.client.get(path, **kwargs)
        found = re.search(r'name="csrf" value="([^"]+)"', answer.get_data(as_text=True))
        if found:
            self.token = found.group(1)
        return answer

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if not self.token:
            self.get("/console/overview")
        return self.client.post(path, data={"csrf": self.token, **(data or {})}, **kwargs)


@pytest.fixture
def app(settings, database):
    return create_app(settings.replace(secret_key="users-test"), database)


def person(app, database, role: str, name: str) -> Console:
    with database.session() as session:
        account = create_user(session, name, role, BOX)
    return Console(signed_in_client(app, account, name))


@pytest.fixture
def curator(app, database) -> Console:
    return person(app, database, "curator", "cora")


def text(answer: Any) -> str:
    return answer.get_data(as_text=True)


def test_curators_land_on_the_overview_and_reviewers_cannot_curate(app, database, curator):
    assert curator.get("/console/").location.endswith("/console/overview")
    page = text(curator.get("/console/overview"))
    assert "Signals per bank" in page and "<svg" in page and "Exchange syncs per day" in page
    assert "Queue" not in page  # a curator has no review queue
    assert curator.get("/console/queue").status_code == 403
    reviewer = person(app, database, "reviewer", "rita")
    assert reviewer.get("/console/").location.endswith("/console/queue")
    refused = reviewer.get("/console/banks")
    assert refused.status_code == 403 and "<h1>" in text(refused)  # a page, not JSON
    admin = person(app, database, "admin", "ada")
    assert admin.get("/console/banks").status_code == 200
    assert app.test_client().get("/console/banks").location.startswith("/console/login")


def test_a_bank_is_created_configured_filled_searched_and_pruned(curator, database):
    made = curator.post("/console/banks", {"name": "known", "description": "test bank"})
    assert made.location.endswith("/console/banks/known")
    bad = curator.post("/console/banks", {"name": "has space"})
    assert "a bank name is" in text(curator.get(bad.location))

    settings = {
        "name": "known",
        "description": "d",
        "enabled": "on",
        "pdq_threshold": "20",
        "trust": "3",
        "matching_ratio": "0.5",
    }
    assert curator.post("/console/banks/known/settings", settings).status_code == 302
    assert 'name="pdq_threshold" min="0" max="64" value="20"' in text(
        curator.get("/console/banks/known")
    )
    assert "<td>pdq 20</td>" in text(curator.get("/console/banks"))
    refused = curator.post("/console/banks/known/settings", settings | {"trust": "99"})
    assert "trust must be" in text(curator.get(refused.location))

    upload = {"file": (io.BytesIO(fixture_bytes("aaa-orig.jpg")), "photo.jpg"), "tags": "csam, x"}
    added = curator.post("/console/banks/known/content", upload, content_type="multipart/form-data")
    page = text(curator.get(added.location))
    assert "photo.jpg added as item" in page and PDQ in page and "<img" not in page
    garbage = {"file": (io.BytesIO(b"not media"), "junk.bin")}
    curator.post("/console/banks/known/content", garbage, content_type="multipart/form-data")
    with database.session() as session:
        [item] = session.scalars(select(BankContent))
        assert item.tags == ["csam", "x"] and item.source == "console"

    assert f"item-{item.id}" in text(curator.get(f"/console/banks/known?value={PDQ.upper()}"))
    assert f"item-{item.id}" in text(curator.get("/console/banks/known?tag=x"))
    assert "Nothing found." in text(curator.get("/console/banks/known?tag=y"))
    assert "Nothing found." in text(curator.get("/console/banks/known?value=abc"))

    curator.post(f"/console/banks/known/content/{item.id}/state", {"enabled": "0"})
    assert "disabled" in text(curator.get("/console/banks/known"))
    no_reason = curator.post(f"/console/banks/known/content/{item.id}/remove", {"reason": " "})
    assert "say why" in text(curator.get(no_reason.location))
    curator.post(f"/console/banks/known/content/{item.id}/remove", {"reason": "appeal upheld"})
    with database.session() as session:
        assert session.scalar(select(BankContent)) is None
        reasons = [e.details.get("reason") for e in session.scalars(select(AuditEntry))]
        actors = {e.actor for e in session.scalars(select(AuditEntry))}
    assert "appeal upheld" in reasons and "user:cora" in actors

    wrong = curator.post("/console/banks/known/delete", {"confirm": "nope"})
    assert "to delete it" in text(curator.get(wrong.location))
    curator.post("/console/banks/known/delete", {"confirm": "known"})
    assert curator.get("/console/banks/known").status_code == 404


def test_import_shows_progress_and_export_streams_the_bank(curator):
    curator.post("/console/banks", {"name": "feed"})
    lines = [f"pdq {i:064x}" for i in range(1, 1201)] + ["pdq nothex", "sha1 abc"]
    upload = {"file": (io.BytesIO("\n".join(lines).encode()), "list.txt")}
    answer = curator.post("/console/banks/feed/import", upload, content_type="multipart/form-data")
    page = text(answer)
    answer.close()
    assert page.count("<progress") == 3 and "1202 of 1202 records" in page
    assert "Imported 1200, 0 already present, 2 bad lines." in page
    exported = curator.get("/console/banks/feed/export")
    records = [json.loads(line) for line in text(exported).splitlines()]
    exported.close()  # as a server does after the last byte: the request's session ends
    assert len(records) == 1200 and records[0]["value"] == f"{1:064x}"
    assert "attachment" in exported.headers["Content-Disposition"]


def test_an_exchange_is_added_from_its_form_and_synced_on_request(app, curator, database, tmp_path):
    feed = tmp_path / "list.txt"
    feed.write_text("\n".join(f"pdq {i:064x}" for i in range(1, 51)))
    curator.post("/console/banks", {"name": "followed"})
    form = text(curator.get("/console/exchanges/new?type=list"))
    assert 'name="format"' in form and 'name="batch_size"' in form
    assert 'type="password"' not in form  # a list needs no credentials
    bad = curator.post(
        "/console/exchanges/new",
        {"type": "list", "name": "l1", "bank": "followed", "url": str(feed), "interval": "5"},
    )
    assert "at least 10" in text(bad)
    added = curator.post(
        "/console/exchanges/new",
        {
            "type": "list",
            "name": "l1",
            "bank": "followed",
            "url": str(feed),
            "interval": "60",
            "format": "lines",
            "enabled": "on",
        },
    )
    assert added.location.endswith("/console/exchanges/l1")
    ncmec = text(curator.get("/console/exchanges/new?type=ncmec"))
    assert 'type="password" name="credentials"' in ncmec and 'name="only_esp_ids"' in ncmec

    assert json.loads(text(curator.get("/console/exchanges/l1/progress")))["running"] is False
    curator.post("/console/exchanges/l1/sync")
    assert json.loads(text(curator.get("/console/exchanges/l1/progress")))["requested"] is True
    with app.app_context():
        from hma.web.context import services

        [report] = services().exchanges.run_requested()
    assert report.ok and report.upserts == 50
    progress = json.loads(text(curator.get("/console/exchanges/l1/progress")))
    assert progress == {
        "requested": False,
        "running": False,
        "records": 50,
        "expected": None,
        "ok": True,
        "error": None,
    }
    page = text(curator.get("/console/exchanges/l1"))
    assert "done" in page and "upserts 50" in page
    assert "l1" in text(curator.get("/console/exchanges"))
    secret = {"enabled": "on", "interval": "60", "credentials": "s3cret-token"}
    curator.post("/console/exchanges/l1/settings", secret)
    assert "s3cret-token" not in text(curator.get("/console/exchanges/l1"))
    with database.session() as session:
        exchange = session.scalar(select(Exchange))
        assert exchange.credentials and "s3cret" not in exchange.credentials
        runs = list(session.scalars(select(ExchangeRun)))
        assert [(r.ok, r.records) for r in runs] == [(True, 50)]
    curator.post("/console/exchanges/l1/remove", {"confirm": "l1"})
    assert curator.get("/console/exchanges/l1").status_code == 404


def test_match_debug_shows_every_candidate_and_the_threshold_that_decided(curator):
    curator.post("/console/banks", {"name": "near"})
    curator.post("/console/banks", {"name": "strict"})
    for bank, threshold in (("near", ""), ("strict", "4")):
        settings = {"name": bank, "enabled": "on", "pdq_threshold": threshold, "trust": "0"}
        curator.post(f"/console/banks/{bank}/settings", settings | {"matching_ratio": "1"})
        photo = {"file": (io.BytesIO(fixture_bytes("aaa-orig.jpg")), "a.jpg")}
        curator.post(f"/console/banks/{bank}/content", photo, content_type="multipart/form-data")
    probe = f"{int(PDQ, 16) ^ 0b111111:064x}"  # six bits away
    page = text(curator.post("/console/match-debug", {"type": "pdq", "value": probe}))
    rows = re.findall(r"<tr><td>(\d+)</td>\s*<td><a [^>]+>(\w+)</a></td>.*?</tr>", page, re.S)
    assert sorted(rows) == [("6", "near"), ("6", "strict")]
    assert "no match: over the threshold of 4" in page and "verdict-match" in page
    uploaded = curator.post(
        "/console/match-debug",
        {"file": (io.BytesIO(fixture_bytes("aaa-orig.jpg")), "a.jpg")},
        content_type="multipart/form-data",
    )
    found = re.findall(
        r"<tr><td>(\d+)</td>\s*<td><a [^>]+>(\w+)</a></td>\s*<td>\d+</td><td>(\w+)</td>"
        r"<td>\d+</td>\s*<td>(.*?)</td></tr>",
        text(uploaded),
        re.S,
    )
    exact = {(bank, kind) for distance, bank, kind, outcome in found if "verdict-match" in outcome}
    assert {("near", "pdq"), ("strict", "pdq"), ("near", "md5"), ("strict", "md5")} <= exact
    assert "<img" not in text(uploaded)
    assert "pdq value must be" in text(curator.post("/console/match-debug", {"value": "zz"}))
    assert "Upload a file or paste a hash" in text(curator.post("/console/match-debug", {}))


def test_charts_are_svg_with_a_description_and_escaped_names():
    days = ["2026-12-01", "2026-12-02", "2026-12-03"]
    svg = bar_chart("Syncs <per day>", days, {"ok": [1, 0, 4], "failed": [0, 2, 0]})
    assert svg.startswith("<svg") and "<title>Syncs &lt;per day&gt;</title>" in svg
    assert svg.count("<rect") == 3 + 2  # three bars with a value, two legend keys
    assert "ok: 4 on the last day" in svg
    line = line_chart("Signals", days, {"<b>": [0, 5, 10]})
    assert "&lt;b&gt;" in line and line.count("<circle") == 3 and ">10<" in line
    empty = bar_chart("Nothing", [], {})
    assert "No data." in empty
