"""The HTTP API through Flask's test client on a real database: routes, roles, errors."""

from __future__ import annotations

import io
import re
import time

import pytest

from accounts.tokens import ROLES
from tests.conftest import api_for, fixture_bytes, upload

PDQ_ORIG = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def error_code(response) -> str:
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["message"]
    return body["error"]["code"]


def make_bank(api, name="known", image="aaa-orig.jpg", tags="csam,a1"):
    assert api.post("/banks", json={"name": name}).status_code == 201
    response = api.post(f"/banks/{name}/content", **upload(image, tags=tags))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_hash_a_file(api, expected):
    response = api.post("/hash", role="ingest", **upload("aaa-orig.jpg"))
    assert response.status_code == 200
    signals = {s["type"]: s for s in response.get_json()["signals"]}
    assert signals["pdq"] == {
        "type": "pdq",
        "value": expected["aaa-orig.jpg"]["pdq"],
        "quality": 100,
        "usable": True,
    }
    assert signals["md5"]["value"] == expected["aaa-orig.jpg"]["md5"]
    assert signals["sha256"]["value"] == expected["aaa-orig.jpg"]["sha256"]


def test_low_quality_is_reported_not_blanked(api):
    signals = api.post("/hash", role="ingest", **upload("small.jpg")).get_json()["signals"]
    pdq = next(s for s in signals if s["type"] == "pdq")
    assert pdq["quality"] == 0 and pdq["usable"] is False and len(pdq["value"]) == 64


def test_match_and_scan(api):
    content = make_bank(api)
    found = api.post("/match", role="ingest", **upload("blur-a-lot.jpg")).get_json()
    assert found["matches"] == [
        {
            "bank": "known",
            "content_id": content["id"],
            "signal_type": "pdq",
            "signal": PDQ_ORIG,
            "distance": 4,
            "tags": ["csam", "a1"],
        }
    ]
    assert "case_id" not in found
    assert api.get("/cases", role="reviewer").get_json()["total"] == 0

    scanned = api.post(
        "/scan",
        role="ingest",
        **upload("blur-a-lot.jpg", content_ref="u-1", metadata='{"uploader": "42"}'),
    )
    assert scanned.status_code == 200
    case_id = scanned.get_json()["case_id"]
    assert isinstance(case_id, int)
    again = api.post("/scan", role="ingest", **upload("aaa-orig.jpg", content_ref="u-1"))
    assert again.get_json()["case_id"] == case_id

    case = api.get(f"/cases/{case_id}", role="reviewer").get_json()
    assert case["status"] == "open"
    assert case["metadata"] == {"uploader": "42"}
    assert {(m["signal_type"], m["distance"]) for m in case["matches"]} == {
        ("pdq", 4),
        ("pdq", 0),
        ("md5", 0),
        ("sha256", 0),
    }

    unrelated = api.post("/scan", role="ingest", **upload("wee.jpg", content_ref="u-2"))
    assert unrelated.get_json()["case_id"] is None
    assert unrelated.get_json()["matches"] == []


def test_match_by_signals(api):
    make_bank(api)
    response = api.post(
        "/match", role="ingest", json={"signals": [{"type": "pdq", "value": PDQ_ORIG.upper()}]}
    )
    assert [m["distance"] for m in response.get_json()["matches"]] == [0]


def test_scan_by_signals_and_decide(api):
    make_bank(api)
    scanned = api.post(
        "/scan",
        role="ingest",
        json={
            "signals": [{"type": "pdq", "value": PDQ_ORIG}],
            "content_ref": "u-9",
            "metadata": {"k": "v"},
        },
    ).get_json()
    case_id = scanned["case_id"]
    listed = api.get("/cases", role="reviewer").get_json()
    assert [c["id"] for c in listed["cases"]] == [case_id]
    decided = api.post(
        f"/cases/{case_id}/decision",
        role="reviewer",
        json={"decision": "reject", "note": "false positive"},
    )
    assert decided.status_code == 200
    body = decided.get_json()
    # Inside the undo window the decision is pending: nothing has acted yet.
    assert (body["status"], body["decision"]) == ("pending", None)
    (made,) = body["decisions"]
    assert (made["state"], made["reason"]) == ("pending", "false_positive")
    assert made["decided_by"].startswith("user:test-reviewer-")
    again = api.post(f"/cases/{case_id}/decision", role="reviewer", json={"decision": "confirm"})
    assert again.status_code == 409 and error_code(again) == "case_closed"
    assert api.get("/cases?status=pending", role="reviewer").get_json()["total"] == 1
    assert api.get("/cases", role="reviewer").get_json()["total"] == 0
    undone = api.post(f"/cases/{case_id}/undo", role="reviewer")
    assert undone.status_code == 200 and undone.get_json()["status"] == "open"
    assert undone.get_json()["decisions"][0]["state"] == "undone"
    assert api.get("/cases", role="reviewer").get_json()["total"] == 1


def test_bank_routes(api):
    created = api.post("/banks", json={"name": "b1", "description": "d"})
    assert created.status_code == 201
    assert api.post("/banks", json={"name": "b1"}).status_code == 409
    assert [b["name"] for b in api.get("/banks").get_json()["banks"]] == ["b1"]

    renamed = api.patch("/banks/b1", json={"name": "b2", "enabled": False})
    assert renamed.get_json()["name"] == "b2" and renamed.get_json()["enabled"] is False
    assert api.get("/banks/b1").status_code == 404
    trusted = api.patch("/banks/b2", json={"trust": 7})
    assert trusted.status_code == 200 and trusted.get_json()["trust"] == 7
    too_much = api.patch("/banks/b2", json={"trust": 11})
    assert too_much.status_code == 400 and error_code(too_much) == "invalid_trust"

    added = api.post(
        "/banks/b2/content",
        json={
            "signals": [{"type": "md5", "value": "A" * 32}],
            "tags": ["csam"],
            "metadata": {"x": 1},
        },
    )
    assert added.status_code == 201
    content_id = added.get_json()["id"]
    assert added.get_json()["signals"] == [{"type": "md5", "value": "a" * 32}]
    for i in range(4):
        api.post("/banks/b2/content", json={"signals": [{"type": "md5", "value": f"{i:032x}"}]})

    page = api.get("/banks/b2/content?limit=3").get_json()
    assert len(page["content"]) == 3 and page["next_after"] == page["content"][-1]["id"]
    rest = api.get(f"/banks/b2/content?limit=3&after={page['next_after']}").get_json()
    assert len(rest["content"]) == 2 and rest["next_after"] is None

    patched = api.patch(f"/banks/b2/content/{content_id}", json={"enabled": False, "tags": []})
    assert patched.get_json()["enabled"] is False and patched.get_json()["tags"] == []
    assert api.get(f"/banks/b2/content/{content_id}").get_json()["enabled"] is False
    assert api.delete(f"/banks/b2/content/{content_id}").status_code == 204
    assert api.get(f"/banks/b2/content/{content_id}").status_code == 404
    assert api.get("/banks/b2").get_json()["content_count"] == 4
    assert api.delete("/banks/b2").status_code == 204
    assert api.get("/banks").get_json()["banks"] == []


def test_adding_a_low_quality_file_keeps_only_usable_signals(api):
    api.post("/banks", json={"name": "b"})
    added = api.post("/banks/b/content", **upload("small.jpg")).get_json()
    assert [s["type"] for s in added["signals"]] == ["md5", "sha256"]
    assert added["skipped_signals"][0]["type"] == "pdq"
    assert added["skipped_signals"][0]["quality"] == 0


# Authentication and roles ----------------------------------------------------

ROUTE_ROLES = [
    ("POST", "/hash", "ingest"),
    ("POST", "/match", "ingest"),
    ("POST", "/scan", "ingest"),
    ("GET", "/banks", "curator"),
    ("POST", "/banks", "curator"),
    ("GET", "/banks/x", "curator"),
    ("GET", "/banks/x/content", "curator"),
    ("GET", "/cases", "reviewer"),
    ("GET", "/cases/1", "reviewer"),
    ("POST", "/cases/1/decision", "reviewer"),
]


@pytest.mark.parametrize(("method", "path", "needed"), ROUTE_ROLES)
def test_roles(api, method, path, needed):
    missing = api.call(method, path, role="")
    assert missing.status_code == 401 and error_code(missing) == "unauthorized"
    wrong = api.call(method, path, role="", headers={"Authorization": "Bearer hma_nope"})
    assert wrong.status_code == 401
    for role in ROLES:
        status = api.call(method, path, role=role, json={}).status_code
        if role in (needed, "admin"):
            assert status not in (401, 403)
        else:
            assert status == 403, role


@pytest.mark.parametrize("cache_seconds", [0.0, 2.0])
def test_revoked_token_is_refused_once_the_cache_forgets_it(settings, database, cache_seconds):
    from accounts.tokens import list_tokens, revoke_token

    api = api_for(settings.replace(token_cache_seconds=cache_seconds), database)
    assert api.get("/banks", role="curator").status_code == 200
    with database.session() as session:
        revoke_token(session, next(t.name for t in list_tokens(session) if t.role == "curator"))
    if cache_seconds:
        # Revoked in another process: this one trusts what it verified for a moment.
        assert api.get("/banks", role="curator").status_code == 200
        time.sleep(cache_seconds)
    assert api.get("/banks", role="curator").status_code == 401


def test_status_and_openapi_need_no_token(api):
    status = api.get("/status", role="")
    assert status.status_code == 200
    assert status.get_json() == {"status": "ok"}  # liveness: nothing about the deployment
    body = api.get("/status", role="ingest").get_json()
    assert body["status"] == "ok" and body["index_lag"] == 0 and body["database"]
    assert api.get("/status", headers={"Authorization": "Bearer nope"}, role="").status_code == 401
    assert api.get("/openapi.json", role="").status_code == 200


def test_openapi_describes_every_route(api):
    spec = api.get("/openapi.json", role="").get_json()
    app = api.client.application
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        assert path in spec["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in spec["paths"][path], (method, path)
    described = {(p, m) for p, ops in spec["paths"].items() for m in ops if m != "parameters"}
    registered = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.rule), m.lower())
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/api/v1")
        for m in r.methods - {"HEAD", "OPTIONS"}
    }
    assert described == registered


# Bad input: a clear 4xx, never a 500 ---------------------------------------------


def raw_file(data: bytes, name: str = "x.jpg", **fields):
    return {
        "data": {"file": (io.BytesIO(data), name), **fields},
        "content_type": "multipart/form-data",
    }


BAD_UPLOADS = [
    (b"", "empty_file"),
    (fixture_bytes("aaa-orig.jpg")[:4000], "corrupt_media"),
    (b"\x89PNG\r\n\x1a\n" + b"\x01" * 50, "corrupt_media"),
    (b"<html>not an image</html>" * 20, "unsupported_media"),
]


@pytest.mark.parametrize("route", ["/hash", "/match", "/scan"])
@pytest.mark.parametrize(("data", "code"), BAD_UPLOADS, ids=[c for _, c in BAD_UPLOADS])
def test_bad_media(api, route, data, code):
    response = api.post(route, role="ingest", **raw_file(data, content_ref="r"))
    assert response.status_code == 400
    assert error_code(response) == code


@pytest.mark.parametrize(
    ("route", "kwargs", "status", "code"),
    [
        ("/hash", {"data": "not json", "content_type": "application/json"}, 400, "invalid_json"),
        ("/hash", {"json": [1, 2]}, 400, "invalid_json"),
        ("/hash", {"data": "x", "content_type": "text/plain"}, 415, "unsupported_content_type"),
        ("/hash", {"json": {}}, 400, "missing_input"),
        (
            "/hash",
            {"data": {"other": "x"}, "content_type": "multipart/form-data"},
            400,
            "missing_file",
        ),
        ("/hash", {"json": {"url": "file:///etc/passwd"}}, 400, "url_not_allowed"),
        ("/hash", {"json": {"url": 5}}, 400, "url_not_allowed"),
        ("/match", {"json": {"signals": []}}, 400, "invalid_signals"),
        ("/match", {"json": {"signals": "pdq"}}, 400, "invalid_signals"),
        ("/match", {"json": {"signals": [{"value": "x"}]}}, 400, "invalid_signals"),
        ("/match", {"json": {"signals": [{"type": "pdq", "value": "xyz"}]}}, 400, "invalid_signal"),
        ("/match", {"json": {"signals": [{"type": "pdq", "value": None}]}}, 400, "invalid_signal"),
        (
            "/match",
            {"json": {"signals": [{"type": "nope", "value": "00"}]}},
            400,
            "unknown_signal_type",
        ),
        (
            "/scan",
            {"json": {"signals": [{"type": "md5", "value": "0" * 32}]}},
            400,
            "missing_content_ref",
        ),
        (
            "/scan",
            {
                "json": {
                    "signals": [{"type": "md5", "value": "0" * 32}],
                    "content_ref": "r",
                    "metadata": "x",
                }
            },
            400,
            "invalid_metadata",
        ),
    ],
)
def test_bad_requests(api, route, kwargs, status, code):
    response = api.post(route, role="ingest", **kwargs)
    assert response.status_code == status
    assert error_code(response) == code


def test_scan_bad_metadata_in_form(api):
    response = api.post(
        "/scan", role="ingest", **upload("wee.jpg", content_ref="r", metadata="{not json")
    )
    assert response.status_code == 400 and error_code(response) == "invalid_metadata"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("POST", "/banks", {"json": {"name": "bad name"}}, 400, "invalid_bank_name"),
        ("POST", "/banks", {"json": {}}, 400, "invalid_bank_name"),
        ("POST", "/banks", {"json": {"name": "ok", "enabled": "yes"}}, 400, "invalid_field"),
        ("GET", "/banks/missing", {}, 404, "bank_not_found"),
        ("PATCH", "/banks/missing", {"json": {}}, 404, "bank_not_found"),
        ("DELETE", "/banks/missing", {}, 404, "bank_not_found"),
        ("GET", "/banks/missing/content", {}, 404, "bank_not_found"),
        # The request's shape is checked before what it addresses.
        ("POST", "/banks/missing/content", {"json": {}}, 400, "invalid_signals"),
        (
            "POST",
            "/banks/missing/content",
            {"json": {"signals": [{"type": "md5", "value": "0" * 32}]}},
            404,
            "bank_not_found",
        ),
        ("GET", "/banks/known/content/999999", {}, 404, "content_not_found"),
        ("PATCH", "/banks/known/content/999999", {"json": {}}, 404, "content_not_found"),
        ("DELETE", "/banks/known/content/999999", {}, 404, "content_not_found"),
        ("GET", "/banks/known/content?limit=5000", {}, 400, "invalid_paging"),
        ("GET", "/banks/known/content?after=abc", {}, 400, "invalid_paging"),
        (
            "POST",
            "/banks/known/content",
            {"json": {"signals": [{"type": "md5", "value": "1"}]}},
            400,
            "invalid_signal",
        ),
        (
            "POST",
            "/banks/known/content",
            {"json": {"signals": [{"type": "md5", "value": "0" * 32}], "tags": "csam"}},
            400,
            "invalid_tags",
        ),
        (
            "POST",
            "/banks/known/content",
            {"json": {"signals": [{"type": "md5", "value": "0" * 32}], "metadata": [1]}},
            400,
            "invalid_metadata",
        ),
        ("POST", "/banks/known/content", {"json": {}}, 400, "invalid_signals"),
        ("GET", "/cases/999999", {}, 404, "case_not_found"),
        (
            "POST",
            "/cases/999999/decision",
            {"json": {"decision": "confirm"}},
            404,
            "case_not_found",
        ),
        ("GET", "/cases?status=weird", {}, 400, "invalid_filter"),
        ("GET", "/cases?limit=0", {}, 400, "invalid_paging"),
        ("GET", "/no-such-route", {}, 404, "not_found"),
        ("PUT", "/banks", {"json": {}}, 405, "method_not_allowed"),
    ],
)
def test_bad_curator_and_reviewer_requests(api, method, path, kwargs, status, code):
    make_bank(api, "known")
    response = api.call(method, path, **kwargs)
    assert response.status_code == status, response.get_json()
    assert error_code(response) == code


def test_bad_decisions(api):
    make_bank(api)
    case_id = api.post(
        "/scan", role="ingest", **upload("aaa-orig.jpg", content_ref="r")
    ).get_json()["case_id"]
    for body, code in [
        ({"decision": "ban"}, "invalid_decision"),
        ({}, "invalid_decision"),
        ({"decision": "confirm", "note": 7}, "invalid_note"),
    ]:
        response = api.post(f"/cases/{case_id}/decision", role="reviewer", json=body)
        assert response.status_code == 400 and error_code(response) == code


def test_uploads_over_the_limit_get_413(settings, database):
    api = api_for(settings.replace(max_upload_bytes=200_000), database)
    big = fixture_bytes("aaa-orig.jpg")  # 361 kB, over the 200 kB limit set above
    for route in ("/hash", "/match", "/scan"):
        response = api.post(route, role="ingest", **raw_file(big, content_ref="r"))
        assert response.status_code == 413
        assert error_code(response) in ("payload_too_large", "file_too_large")
    just_over = b"\xff\xd8\xff" + b"\x00" * 200_000
    response = api.post("/hash", role="ingest", **raw_file(just_over))
    assert response.status_code == 413 and error_code(response) == "file_too_large"


def test_video_upload_and_match(api, tmp_path):
    from tests.media_factory import write_video

    clip = write_video(tmp_path / "clip.mp4", count=65)
    hashed = api.post("/hash", role="ingest", **raw_file(clip.read_bytes(), "clip.mp4"))
    assert hashed.status_code == 200
    signals = {s["type"]: s for s in hashed.get_json()["signals"]}
    assert set(signals) == {"vpdq", "md5", "sha256"}
    assert [f["frame_number"] for f in signals["vpdq"]["frames"]] == [0, 30, 60]
    api.post("/banks", json={"name": "videos"})
    added = api.post("/banks/videos/content", **raw_file(clip.read_bytes(), "clip.mp4"))
    assert added.status_code == 201
    assert {s["type"] for s in added.get_json()["signals"]} == {"vpdq", "md5", "sha256"}
    found = api.post("/match", role="ingest", **raw_file(clip.read_bytes(), "clip.mp4"))
    matches = {m["signal_type"]: m for m in found.get_json()["matches"]}
    assert set(matches) == {"vpdq", "md5", "sha256"}
    assert matches["vpdq"]["query_match_percent"] == 100.0
    assert matches["vpdq"]["bank_match_percent"] == 100.0
    assert matches["vpdq"]["distance"] == 0
    # A clip cut from the banked video matches it by frames alone.
    part = write_video(tmp_path / "part.mp4", count=35)
    found = api.post("/match", role="ingest", **raw_file(part.read_bytes(), "part.mp4"))
    matches = {m["signal_type"]: m for m in found.get_json()["matches"]}
    assert set(matches) == {"vpdq"}
    assert matches["vpdq"]["bank_match_percent"] == pytest.approx(66.7)


def test_hostile_media_over_http(api, tmp_path):
    from tests.media_factory import huge_png, ten_hour_video

    for data, status, code in [
        (huge_png(), 413, "image_too_large"),
        (ten_hour_video(tmp_path / "long.mp4"), 413, "video_too_long"),
        (b"\x00\x00\x00\x20ftypisom" + b"\x00" * 500, 400, "corrupt_media"),
    ]:
        response = api.post("/hash", role="ingest", **raw_file(data))
        assert response.status_code == status
        assert error_code(response) == code


def test_bank_threshold_over_http(api):
    make_bank(api)
    patched = api.patch("/banks/known", json={"pdq_threshold": 2})
    assert patched.status_code == 200 and patched.get_json()["pdq_threshold"] == 2
    found = api.post("/match", role="ingest", **upload("blur-a-lot.jpg")).get_json()
    assert found["matches"] == []  # the blurred copy is 4 bits away
    api.patch("/banks/known", json={"pdq_threshold": None})
    found = api.post("/match", role="ingest", **upload("blur-a-lot.jpg")).get_json()
    assert [m["distance"] for m in found["matches"]] == [4]
    for bad in (65, -1, "10", True, 3.5):
        response = api.patch("/banks/known", json={"pdq_threshold": bad})
        assert response.status_code == 400 and error_code(response) == "invalid_threshold"
    both = api.patch("/banks/known", json={"thresholds": {"phash": 6, "pdq": 3}}).get_json()
    assert both["thresholds"] == {"pdq": 3, "phash": 6} and both["pdq_threshold"] == 3
    cleared = api.patch("/banks/known", json={"thresholds": {"pdq": None}}).get_json()
    assert cleared["thresholds"] == {"phash": 6} and cleared["pdq_threshold"] is None
    for bad, code in [
        ({"md5": 2}, "invalid_threshold"),
        ({"phash": 17}, "invalid_threshold"),
        ({"nosuchtype": 2}, "unknown_signal_type"),
    ]:
        response = api.patch("/banks/known", json={"thresholds": bad})
        assert response.status_code == 400 and error_code(response) == code, bad
    assert api.get("/banks/known").get_json()["thresholds"] == {"phash": 6}


def test_status_reports_each_index(api):
    make_bank(api)
    api.post("/match", role="ingest", **upload("wee.jpg"))
    status = api.get("/status", role="ingest").get_json()
    assert status["index_lag"] == 0
    assert status["applied_change_id"] == status["change_log_head"] == 3
    assert status["indexes"] == {
        name: {"size": 1, "applied_change_id": 3, "lag": 0} for name in ("md5", "pdq", "sha256")
    }
    api.post("/banks/known/content", json={"signals": [{"type": "md5", "value": "f" * 32}]})
    status = api.get("/status", role="ingest").get_json()
    assert status["index_lag"] == 1 and status["indexes"]["md5"]["lag"] == 1


# A token in the base URL ----------------------------------------------------------


def test_a_token_may_ride_in_the_path(api):
    client, tokens = api.client, api.tokens
    listed = client.get(f"/t/{tokens['curator']}/api/v1/banks")
    assert listed.status_code == 200 and listed.get_json() == {"banks": []}
    # Roles apply as with the header.
    assert client.get(f"/t/{tokens['reviewer']}/api/v1/banks").status_code == 403
    assert client.get("/t/hma_not-a-token/api/v1/banks").status_code == 401
    created = client.post(f"/t/{tokens['curator']}/api/v1/banks", json={"name": "via-path"})
    assert created.status_code == 201
    # Two tokens are refused rather than one chosen.
    both = client.get(
        f"/t/{tokens['curator']}/api/v1/banks",
        headers={"Authorization": f"Bearer {tokens['admin']}"},
    )
    assert both.status_code == 400 and both.get_json()["error"]["code"] == "token_twice"


def test_the_path_token_is_blanked_in_the_logged_request_line():
    from hma.web.path_token import token_in_path

    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        start_response("204 NO CONTENT", [])
        return [b""]

    environ = {
        "PATH_INFO": "/t/hma_secret/api/v1/banks",
        "QUERY_STRING": "x=1",
        "RAW_URI": "/t/hma_secret/api/v1/banks?x=1",
        "REQUEST_URI": "/t/hma_secret/api/v1/banks?x=1",
    }
    token_in_path(app)(environ, lambda *args: None)
    assert seen["PATH_INFO"] == "/api/v1/banks"
    assert seen["HTTP_AUTHORIZATION"] == "Bearer hma_secret"
    assert environ["RAW_URI"] == environ["REQUEST_URI"] == "/t/[token]/api/v1/banks?x=1"
    assert "hma_secret" not in environ["RAW_URI"]
