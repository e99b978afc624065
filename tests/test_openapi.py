"""/api/v1/openapi.json is made from the routes' declarations, and real answers follow it.

Every answer of every test is validated against the document (see
`tests/spec_check.py`); the test here drives each route at least once, so
that none goes unchecked, and shows that the check does catch a difference.
"""

from __future__ import annotations

import json
import time

import pytest
from flask import Response

from accounts.tokens import create_token
from tests import spec_check
from tests.conftest import api_for, upload

MD5 = "0" * 31 + "1"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_route_answers_as_described(settings, database, http_server):
    feed = http_server(
        {"/list.txt": (200, {"Content-Type": "text/plain"}, f"md5 {MD5}\n".encode())}
    )
    api = api_for(
        settings.replace(
            undo_seconds=30, two_person_rule=True, egress_allow=f"127.0.0.1:{feed.port}"
        ),
        database,
    )
    spec_check.SEEN.clear()
    ok = {200, 201, 202, 204}

    def expect(response, status: int | set[int] = ok):
        wanted = status if isinstance(status, set) else {status}
        assert response.status_code in wanted, response.get_data(as_text=True)[:300]
        return response.get_json(silent=True)

    for path in ("/status", "/live", "/openapi.json"):
        expect(api.get(path, role=""))
    expect(api.get("/ready", role=""), {200, 503})  # 503 while the indexes load

    # Banks and their content.
    expect(api.post("/banks", json={"name": "known", "description": "test"}), 201)
    expect(api.get("/banks"))
    expect(api.patch("/banks/known", json={"trust": 5, "published": True}))
    expect(api.get("/banks/known"))
    added = expect(api.post("/banks/known/content", **upload("aaa-orig.jpg", tags="csam")), 201)
    signals = expect(
        api.post(
            "/banks/known/content",
            json={"signals": [{"type": "md5", "value": MD5}], "tags": ["csam"]},
        ),
        201,
    )
    expect(api.get("/banks/known/content?limit=1"))
    expect(api.get(f"/banks/known/content/{added['id']}"))
    expect(api.patch(f"/banks/known/content/{signals['id']}", json={"tags": ["csam"]}))

    # Ingest.
    expect(api.post("/hash", role="ingest", **upload("aaa-orig.jpg")))
    expect(api.post("/match", role="ingest", json={"signals": [{"type": "md5", "value": MD5}]}))
    post = {"text": "a post", "urls": ["https://a.example/"], "content_ref": "p-1"}
    expect(api.post("/match", role="ingest", json=post))
    scanned = expect(api.post("/scan", role="ingest", **upload("aaa-orig.jpg", content_ref="u-1")))
    expect(api.post("/scan", role="ingest", **upload("aaa-orig.jpg", content_ref="u-2")))
    case_id = scanned["case_id"]

    # Review: a person takes the next case, decides, a second person approves.
    expect(api.get("/cases?status=all"))
    expect(api.get(f"/cases/{case_id}", role="reviewer"))
    taken = expect(api.post("/cases/next", role="reviewer"))
    expect(api.post(f"/cases/{taken['id']}/release", role="reviewer"))
    expect(api.post(f"/cases/{case_id}/reassign", json={"to": "user:nobody-in-particular"}))
    expect(api.post(f"/cases/{case_id}/release"))  # an admin may release anyone's hold
    expect(api.post(f"/cases/{case_id}/claim"))
    expect(api.get(f"/cases/{case_id}/preview"))
    reveal = api.post(f"/cases/{case_id}/reveal")
    assert reveal.status_code == 200 and reveal.mimetype.startswith("image/")
    expect(api.post(f"/cases/{case_id}/reveal-text"), {404})  # an image's case keeps no text
    severe = {"decision": "confirm", "classification": ["csam_egregious"]}
    expect(api.post(f"/cases/{case_id}/decision", json=severe))
    expect(api.post(f"/cases/{case_id}/undo"))
    expect(api.post(f"/cases/{case_id}/decision", json=severe))
    expect(api.post(f"/cases/{case_id}/approve", role="reviewer"))
    expect(api.post("/cases/next", role="curator"), {403})

    # Exchanges, on a list served on 127.0.0.1.
    exchange = {"name": "feed", "type": "list", "bank": "known", "url": f"{feed.url}/list.txt"}
    expect(api.post("/exchanges", json=exchange), 201)
    expect(api.get("/exchanges"))
    expect(api.patch("/exchanges/feed", json={"interval_seconds": 600}))
    expect(api.post("/exchanges/feed/sync", json={"full": True}), 202)
    for _ in range(100):
        if expect(api.get("/exchanges/feed"))["last_success_at"]:
            break
        time.sleep(0.05)
    expect(api.delete("/exchanges/feed?keep_content=true"), 204)

    # Reporters (the feed's server stands in for an address: it answers no report XML).
    reporter = {
        "name": "tipline",
        "type": "cybertip",
        "url": f"{feed.url}/ispws",
        "credentials": "esp-user:esp-password",
        "settings": {
            "reporter_email": "reports@platform.example",
            "company_name": "Example Platform",
            "legal_url": "https://platform.example/legal",
        },
    }
    expect(api.post("/reporters", json=reporter), 201)
    expect(api.get("/reporters"))
    expect(api.get("/reporters/tipline"))
    assert expect(api.post("/reporters/tipline/check"))["ok"] is False
    expect(api.get("/reports?status=failed"))
    expect(api.post("/reports/999999/retry"), 404)
    expect(api.post("/reports/999999/retract"), 404)
    expect(api.delete("/reporters/tipline"), 204)

    # The published bank, read with an exchange token.
    with database.session() as session:
        api.tokens["peer"] = create_token(session, "peer", "exchange", banks=["known"])
    expect(api.get("/exchange/banks", role="peer"))
    expect(api.get("/exchange/banks/known/changes?after=0&limit=10", role="peer"))

    # Figures.
    expect(api.get("/metrics?start=2020-01-01"))
    expect(api.get("/transparency"))
    csv = api.get("/transparency?format=csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"

    # Removals last.
    appeal = {"reason": "the appeal found a drawing"}
    expect(api.post(f"/banks/known/content/{signals['id']}/remove-on-appeal", json=appeal))
    expect(api.delete(f"/banks/known/content/{added['id']}"), 204)
    expect(api.delete("/banks/known"), 204)

    spec = api.get("/openapi.json", role="").get_json()
    described = {(p, m) for p, item in spec["paths"].items() for m in item if m != "parameters"}
    assert described - spec_check.SEEN == set(), "routes no test here called"


def test_the_check_catches_an_answer_that_differs(api):
    app = api.client.application
    with app.test_request_context("/api/v1/banks", method="GET"):
        spec_check.check(app, Response(json.dumps({"banks": 5}), mimetype="application/json"))
        spec_check.check(app, Response("{}", status=418, mimetype="application/json"))
        spec_check.check(app, Response("x", mimetype="text/html"))
    found, spec_check.PROBLEMS[:] = list(spec_check.PROBLEMS), []
    assert len(found) == 3, found
    assert "at /banks" in found[0] and "not of type" in found[0]
    assert "status not documented" in found[1]
    assert "media type text/html" in found[2]


def test_every_error_is_documented_with_the_error_shape(api):
    spec = api.get("/openapi.json", role="").get_json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            statuses = set(operation["responses"])
            assert {"500", "503"} <= statuses, (method, path)
            if operation["security"]:
                assert {"401", "403"} <= statuses, (method, path)
            if "requestBody" in operation or operation.get("parameters"):
                assert "400" in statuses, (method, path)
            if "{" in path:
                assert "404" in statuses, (method, path)
