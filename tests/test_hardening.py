"""Answers to hostile input: security headers, ids and numbers out of range, deep JSON,
and CSV cells that would run as spreadsheet formulas."""

from __future__ import annotations

import csv
import io
import json

import pytest

from actioners import metrics
from banks import transfer, validation
from banks.spreadsheet import cell_text, safe_cell
from core.errors import InvalidInput, InvalidSignal
from hashers.signals import ACCOUNT, DOMAIN, KEYWORD, URL
from hma.web.headers import MAX_ID, SECURITY_HEADERS

HUGE = 4699651195872348835553115897856


def test_every_response_carries_the_security_headers(api):
    for answer in (
        api.get("/banks"),
        api.get("/banks", role=""),  # a 401
        api.client.get("/console/login"),
        api.client.get("/api/v1/nowhere"),
    ):
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers.get(name) == value, (answer.request.path, name)
    policy = SECURITY_HEADERS["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy


@pytest.mark.parametrize(
    "path",
    [
        f"/cases/{HUGE}",
        f"/cases/{HUGE}/release",
        f"/cases/{MAX_ID + 1}/claim",
        "/cases/0",
        "/cases/-1",
    ],
)
def test_ids_no_row_can_have_are_not_found(api, path):
    method = api.post if path.endswith(("release", "claim")) else api.get
    answer = method(path, role="admin", json={})
    assert answer.status_code == 404, answer.get_data(as_text=True)
    assert answer.get_json()["error"]["code"] == "not_found"


def test_a_case_id_at_the_largest_an_id_can_be_is_looked_up(api):
    answer = api.get(f"/cases/{MAX_ID}")
    assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "case_not_found"


def test_numbers_too_large_for_the_database_are_a_400(api):
    assert api.post("/banks", json={"name": "b"}).status_code == 201
    answer = api.patch("/banks/b", json={"trust": HUGE})
    assert answer.status_code == 400, answer.get_data(as_text=True)
    body = {"name": "x", "type": "list", "bank": "b", "url": "l.txt", "interval_seconds": HUGE}
    answer = api.post("/exchanges", json=body)
    assert answer.status_code == 400, answer.get_data(as_text=True)


@pytest.mark.parametrize("depth", [2_000, 100_000])
def test_json_nested_too_deep_is_a_400(api, depth):
    body = "[" * depth + "]" * depth
    answer = api.post("/match", role="ingest", data=body, content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] in ("input_too_deep", "invalid_json")
    nested_metadata = '{"a":' * depth + "1" + "}" * depth
    answer = api.post(
        "/banks", json={"name": "deep", "description": "d", "metadata": nested_metadata}
    )
    assert answer.status_code in (201, 400)  # never a 500


LONE = "\ud800"


@pytest.mark.parametrize(
    ("path", "role", "body"),
    [
        ("/match", "ingest", {"urls": [f"http://a{LONE}.example/"]}),
        ("/match", "ingest", {"signals": [{"type": "domain", "value": f"a{LONE}.example"}]}),
        ("/match", "ingest", {"accounts": [{"type": "email", "value": f"a{LONE}@x.example"}]}),
        ("/match", "ingest", {"text": f"words {LONE} words"}),
        (
            "/scan",
            "ingest",
            {"content_ref": f"up{LONE}", "signals": [{"type": "md5", "value": "0" * 32}]},
        ),
        ("/banks", "curator", {"name": "b", "description": f"d{LONE}"}),
    ],
)
def test_a_lone_surrogate_anywhere_in_json_is_a_400(api, path, role, body):
    """JSON can spell half a UTF-16 surrogate pair, which no encoder takes."""
    answer = api.post(path, role=role, data=json.dumps(body), content_type="application/json")
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert answer.get_json()["error"]["code"] == "invalid_text"
    paired = json.dumps({"text": "a \U0001f600 pair is text"})  # escaped as a surrogate pair
    assert "\\ud83d" in paired
    answer = api.post("/match", role="ingest", data=paired, content_type="application/json")
    assert answer.status_code == 200


def test_a_lone_surrogate_is_no_signal_and_no_metadata_wherever_they_come_from():
    """Exchanges and imports parse values without the HTTP layer: the types refuse them."""
    for kind in (URL, DOMAIN, ACCOUNT, KEYWORD):
        with pytest.raises(InvalidSignal, match="surrogate"):
            kind.normalize(f"email:a{LONE}@example.org")
    with pytest.raises(InvalidInput, match="plain JSON text"):
        validation.metadata({"note": f"x{LONE}"})


def test_formula_cells_are_written_as_text_and_read_back_unchanged():
    for dangerous in ('=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(dangerous) == "'" + dangerous
        assert cell_text(str(safe_cell(dangerous))) == dangerous
    for harmless in ("csam", "'quoted", "a=b", 5):
        assert safe_cell(harmless) == harmless
    assert cell_text("'quoted") == "'quoted"

    report = {"matches_by_category": {"=cmd|' /C calc'!A0": 3}, "cases_opened": 1}
    rows = list(csv.reader(io.StringIO(metrics.transparency_csv(report))))
    assert rows[1] == ["matches_by_category", "'=cmd|' /C calc'!A0", "3"]

    records = [
        {
            "signal_type": "md5",
            "value": "0" * 32,
            "tags": ["-x", "csam"],
            "metadata": {"note": "=1+1"},
            "enabled": True,
        }
    ]
    text = "".join(transfer.to_csv_rows(records))
    assert "'-x;csam" in text
    [parsed] = list(transfer.parse(text.splitlines(keepends=True), "csv"))
    assert parsed.tags == ("-x", "csam") or list(parsed.tags) == ["-x", "csam"]
    assert json.loads(json.dumps(parsed.metadata)) == {"note": "=1+1"}
