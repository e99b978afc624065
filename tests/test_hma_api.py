"""Meta HMA's API (`/c`, `/h`, `/m`, `/status`) over HTTP: HMA's shapes, codes and texts.

Each expectation is HMA 1.1.7's observed behaviour (../shared/HMA-API.md),
except where docs/hma-compatibility.md lists a difference; those tests say so.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import random
import time
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from accounts.tokens import create_token
from banks import store
from banks.hma_vocabulary import MAX_DISABLE_SECONDS
from banks.models import Bank, BankContent, Exchange
from core.names import Role
from database import utcnow
from database.audit import AuditEntry
from tests.conftest import Api, api_for, fixture_bytes
from tests.exchange_servers import FakeServer, FakeStopNCII, NCIIRecord
from tests.media_factory import jpeg
from tests.test_scale_out import Replica, free_port, replicas, server_env

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5_EMPTY = "d41d8cd98f00b204e9800998ecf8427e"


def flipped(value: str, bits: int) -> str:
    """`value` with its first `bits` bits flipped: at Hamming distance `bits`."""
    number = int(value, 16) ^ ((1 << 256) - 1 ^ ((1 << (256 - bits)) - 1))
    return f"{number:064x}"


class Hma:
    """HMA's client: paths without /api/v1, a token in the header unless told otherwise."""

    def __init__(self, api: Api, role: str = "curator") -> None:
        self.api, self.role = api, role

    def __call__(self, method: str, path: str, role: str | None = None, **kwargs: Any) -> Any:
        token = self.api.tokens[role or self.role] if role != "" else None
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.api.client.open(path, method=method, headers=headers, **kwargs)


@pytest.fixture
def hma_api(api: Api) -> Hma:
    return Hma(api)


def body(response: Any) -> Any:
    assert response.content_type == "application/json", response.get_data(as_text=True)
    return json.loads(response.get_data())


def expect(response: Any, status: int, message: str | None = None) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)
    found = body(response)
    if message is not None:
        assert found == {"message": message}
    return found


def photo_upload(data: bytes, field: str = "photo", **extra: Any) -> dict[str, Any]:
    return {
        "data": {field: (io.BytesIO(data), "upload.jpg"), **extra},
        "content_type": "multipart/form-data",
    }


def flat_image() -> bytes:
    return jpeg(Image.new("RGB", (256, 256), (128, 128, 128)))


# Banks ---------------------------------------------------------------------------------


def test_banks_are_created_read_renamed_and_deleted_as_in_hma(hma_api: Hma, database) -> None:
    made = expect(hma_api("POST", "/c/banks", json={"name": "TEST_BANK"}), 201)
    assert made == {"matching_enabled_ratio": 1.0, "name": "TEST_BANK"}
    # Coop sends the ratio as a string.
    half = hma_api("POST", "/c/banks", json={"name": "HALF", "enabled_ratio": "0.5"})
    assert expect(half, 201) == {"matching_enabled_ratio": 0.5, "name": "HALF"}
    assert expect(hma_api("POST", "/c/banks", json={"name": "_LEADING"}), 201)["name"]
    # `enabled` counts only when the ratio is explicitly null (HMA's quirk 13).
    still_on = hma_api("POST", "/c/banks", json={"name": "STILL_ON", "enabled": False})
    assert expect(still_on, 201)["matching_enabled_ratio"] == 1.0
    off = {"name": "OFF", "enabled_ratio": None, "enabled": False}
    assert expect(hma_api("POST", "/c/banks", json=off), 201)["matching_enabled_ratio"] == 0.0

    for bad in ("lower", "9STARTS_WITH_DIGIT", "", "HAS-DASH", "A" * 256):
        response = hma_api("POST", "/c/banks", json={"name": bad})
        expect(response, 400, "Bank names must be UPPER_WITH_UNDERSCORE")
    expect(hma_api("POST", "/c/banks", json={"name": "TEST_BANK"}), 403, "Bank already exists")
    # A ratio outside 0-1 is refused (HMA stores it: its quirk 14, fixed here).
    assert (
        hma_api("POST", "/c/banks", json={"name": "WIDE", "enabled_ratio": 2.5}).status_code == 400
    )

    missing = expect(hma_api("POST", "/c/banks", data="not json"), 422)
    assert missing[0]["type"] == "model_type" and missing[0]["loc"] == []
    wrong = expect(hma_api("POST", "/c/banks", json={"name": "X", "enabled_ratio": "abc"}), 422)
    assert wrong[0]["loc"] == ["enabled_ratio"]
    assert expect(hma_api("POST", "/c/banks", json={}), 422)[0]["loc"] == ["name"]

    assert expect(hma_api("GET", "/c/bank/HALF"), 200) == half.get_json()
    expect(hma_api("GET", "/c/bank/NOPE"), 404, "bank 'NOPE' not found")
    assert "TEST_BANK" in [b["name"] for b in expect(hma_api("GET", "/c/banks"), 200)]

    renamed = hma_api("PUT", "/c/bank/HALF", json={"name": "RENAMED", "enabled": False})
    assert expect(renamed, 200) == {"matching_enabled_ratio": 0.0, "name": "RENAMED"}
    ratio = hma_api("PUT", "/c/bank/RENAMED", json={"enabled": True, "enabled_ratio": "0.25"})
    assert expect(ratio, 200)["matching_enabled_ratio"] == 0.25
    assert expect(hma_api("PUT", "/c/bank/RENAMED", json={}), 200)["name"] == "RENAMED"
    expect(hma_api("PUT", "/c/bank/NOPE", json={}), 404, "Bank not found")
    taken = hma_api("PUT", "/c/bank/RENAMED", json={"name": "TEST_BANK"})
    expect(taken, 403, "Bank name already exists")
    invalid = hma_api("PUT", "/c/bank/RENAMED", json={"name": "lower"})
    expect(invalid, 400, "Bank names must be UPPER_WITH_UNDERSCORE")
    assert hma_api("PUT", "/c/bank/RENAMED", data="x").status_code == 422

    expect(hma_api("DELETE", "/c/bank/RENAMED"), 200, "Done")
    expect(hma_api("DELETE", "/c/bank/RENAMED"), 200, "Done")  # idempotent, as in HMA
    expect(hma_api("GET", "/c/bank/RENAMED"), 404, "bank 'RENAMED' not found")
    with database.session() as session:
        entries = session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject == "bank:RENAMED")
        )
        assert {"bank.change", "bank.delete"} <= set(entries)


def test_a_rename_keeps_the_content(hma_api: Hma) -> None:
    hma_api("POST", "/c/banks", json={"name": "OLD"})
    added = expect(hma_api("POST", "/c/bank/OLD/signal", json={"pdq": PDQ}), 200)
    hma_api("PUT", "/c/bank/OLD", json={"name": "NEW"})
    got = expect(hma_api("GET", f"/c/bank/NEW/content/{added['id']}"), 200)
    assert got["bank"]["name"] == "NEW"
    lookup = expect(hma_api("GET", f"/m/lookup?signal_type=pdq&signal={PDQ}"), 200)
    assert lookup == {"NEW": [{"bank_content_id": added["id"], "distance": "0"}]}


# Content -------------------------------------------------------------------------------


def test_signals_are_added_normalised_and_checked(hma_api: Hma) -> None:
    hma_api("POST", "/c/banks", json={"name": "B"})
    both = {"pdq": PDQ, "video_md5": "  D41D8CD98F00B204E9800998ECF8427E ", "note": "partner list"}
    added = expect(hma_api("POST", "/c/bank/B/signal", json=both), 200)
    assert added["signals"] == {"pdq": PDQ, "video_md5": MD5_EMPTY}
    again = expect(hma_api("POST", "/c/bank/B/signal", json={"video_md5": MD5_EMPTY}), 200)
    assert again["id"] > added["id"]  # content ids are never reused, one sequence for all

    cases = [
        ({"pdq": PDQ.upper()}, "Invalid pdq signal: invalid PDQ hash"),
        ({"video_md5": "zz"}, "Invalid video_md5 signal: 'zz' is not a valid MD5 hash"),
        ({"pdq": 5}, "Invalid pdq signal: expected string or bytes-like object, got 'int'"),
        ({"metadata": {"content_id": "x"}}, "No such signal type metadata"),
        ({}, "No signals given"),
        ({"note": "only a note"}, "No signals given"),
        ({"pdq": PDQ, "note": 5}, "note should be a string"),
        ({"pdq": PDQ, "note": "n" * 256}, "note must be at most 255 characters"),
    ]
    for sent, message in cases:
        expect(hma_api("POST", "/c/bank/B/signal", json=sent), 400, message)
    expect(hma_api("POST", "/c/bank/NOPE/signal", json={"pdq": PDQ}), 404, "bank 'NOPE' not found")
    refused = hma_api("POST", "/c/bank/B/signal", data="pdq", content_type="text/plain")
    assert (
        refused.status_code == 415
        and "Content-Type was not 'application/json'" in body(refused)["message"]
    )
    broken = hma_api("POST", "/c/bank/B/signal", data="{", content_type="application/json")
    assert broken.status_code == 400 and set(body(broken)) == {"message"}


def test_content_is_read_disabled_annotated_and_deleted(hma_api: Hma) -> None:
    hma_api("POST", "/c/banks", json={"name": "B"})
    hma_api("POST", "/c/banks", json={"name": "OTHER"})
    item = expect(hma_api("POST", "/c/bank/B/signal", json={"pdq": PDQ, "note": "hello"}), 200)[
        "id"
    ]
    path = f"/c/bank/B/content/{item}"

    plain = expect(hma_api("GET", path), 200)
    assert plain == {
        "bank": {"matching_enabled_ratio": 1.0, "name": "B"},
        "disable_until_ts": 1,
        "id": item,
        "note": "hello",
        "original_media_uri": None,
    }
    assert expect(hma_api("GET", path + "?include_signals=TRUE"), 200)["signals"] == {"pdq": PDQ}
    expect(hma_api("GET", "/c/bank/B/content/999999"), 404, "content '999999' not found")
    expect(hma_api("GET", f"/c/bank/NOPE/content/{item}"), 404, "bank 'NOPE' not found")
    # An item of another bank is not found through this one (HMA's quirk 35, fixed).
    expect(hma_api("GET", f"/c/bank/OTHER/content/{item}"), 404, f"content '{item}' not found")
    assert hma_api("GET", "/c/bank/B/content/abc").status_code == 404

    def lookup() -> Any:
        return expect(hma_api("GET", f"/m/lookup?signal_type=pdq&signal={PDQ}"), 200)

    def raw() -> Any:
        return expect(hma_api("GET", f"/m/raw_lookup?signal_type=pdq&signal={PDQ}"), 200)

    disabled = expect(hma_api("PUT", path, json={"disable_until_ts": 0, "note": "n1"}), 200)
    assert disabled == {
        "bank": {"matching_enabled_ratio": 1.0, "name": "B"},
        "collab_metadata": {},
        "disable_until_ts": 0,
        "id": item,
        "note": "n1",
        "original_media_uri": None,
        "user_metadata": None,
    }
    assert lookup() == {} and raw() == {"matches": [item]}
    assert (
        expect(hma_api("PUT", path, json={"disable_until_ts": True}), 200)["disable_until_ts"] == 1
    )
    assert lookup() == {"B": [{"bank_content_id": item, "distance": "0"}]}

    later = int(time.time()) + 3600
    until = expect(hma_api("PUT", path, json={"disable_until_ts": str(later)}), 200)
    assert until["disable_until_ts"] == later and lookup() == {}
    # A time already past enables it, as HMA's reading of the number does.
    past = expect(hma_api("PUT", path, json={"disable_until_ts": 1000.9}), 200)
    assert past["disable_until_ts"] == 1 and lookup() != {}

    for sent, message in [
        ({"disable_until_ts": "1.5"}, "Invalid int: '1.5'"),
        ({"disable_until_ts": -1}, "disable_until_ts must be a non-negative integer"),
        (
            {"disable_until_ts": int(time.time()) + MAX_DISABLE_SECONDS + 100},
            "disable_until_ts must be less than 5 years in the future",
        ),
        ({"note": ["x"]}, "note should be a string"),
    ]:
        expect(hma_api("PUT", path, json=sent), 400, message)
    assert expect(hma_api("PUT", path, json={"note": ""}), 200)["note"] is None
    assert hma_api("PUT", path, data="x", content_type="text/plain").status_code == 415

    expect(hma_api("DELETE", f"/c/bank/OTHER/content/{item}"), 200)  # not OTHER's: kept
    assert expect(hma_api("GET", path), 200)["id"] == item
    assert expect(hma_api("DELETE", path), 200) == {"deleted": 1}
    assert expect(hma_api("DELETE", path), 200) == {"deleted": 0}
    expect(hma_api("DELETE", f"/c/bank/NOPE/content/{item}"), 404, "bank 'NOPE' not found")


def test_content_disabled_until_a_time_comes_back_by_itself(hma_api: Hma, database) -> None:
    hma_api("POST", "/c/banks", json={"name": "B"})
    item = expect(hma_api("POST", "/c/bank/B/signal", json={"pdq": PDQ}), 200)["id"]
    soon = int(time.time()) + 120
    hma_api("PUT", f"/c/bank/B/content/{item}", json={"disable_until_ts": soon})
    with database.sessions.begin() as session:
        assert store.enable_due(session) == 0
    with database.sessions.begin() as session:
        assert store.enable_due(session, utcnow() + timedelta(seconds=180)) == 1
    got = expect(hma_api("GET", f"/c/bank/B/content/{item}"), 200)
    assert got["disable_until_ts"] == 1
    lookup = expect(hma_api("GET", f"/m/lookup?signal_type=pdq&signal={PDQ}"), 200)
    assert lookup == {"B": [{"bank_content_id": item, "distance": "0"}]}


def test_media_is_added_by_url_or_upload_with_metadata(hma_api: Hma, http_server) -> None:
    image = fixture_bytes("aaa-orig.jpg")
    server = http_server(
        {
            "/photo.jpg": (200, {"Content-Type": "image/jpeg"}, image),
            "/flat.jpg": (200, {"Content-Type": "image/jpeg"}, flat_image()),
            "/file.bin": (200, {"Content-Type": "application/octet-stream"}, image),
        }
    )
    hma_api("POST", "/c/banks", json={"name": "B"})
    hashed = expect(hma_api("GET", f"/h/hash?url={server.url}/photo.jpg"), 200)
    assert set(hashed) == {"pdq"} and len(hashed["pdq"]) == 64

    metadata = {
        "content_id": "abc",
        "content_uri": "https://x/y",
        "json": {"k": [1, 2]},
        "collab": 7,
    }
    by_url = hma_api(
        "POST",
        f"/c/bank/B/content?url={server.url}/photo.jpg",
        json={"metadata": metadata, "note": "n"},
    )
    added = expect(by_url, 200)
    assert added["signals"] == hashed
    shown = expect(hma_api("GET", f"/c/bank/B/content/{added['id']}"), 200)
    assert shown["metadata"] == {
        "collab": None,
        "content_id": "abc",
        "content_uri": "https://x/y",
        "json": {"k": [1, 2]},
    }
    assert shown["note"] == "n"
    assert "metadata" not in expect(
        hma_api("GET", f"/c/bank/B/content/{added['id']}?include_metadata=false"), 200
    )

    upload = photo_upload(image, metadata=json.dumps({"content_id": "u1"}), note="up")
    uploaded = expect(hma_api("POST", "/c/bank/B/content", **upload), 200)
    assert uploaded["signals"] == hashed and uploaded["id"] != added["id"]
    as_video = expect(hma_api("POST", "/c/bank/B/content", **photo_upload(image, "video")), 200)
    assert set(as_video["signals"]) == {"video_md5"}

    bogus = hma_api("POST", "/c/bank/B/content", **photo_upload(image, metadata='{"bogus": 1}'))
    text = expect(bogus, 400)["message"]
    assert text.startswith(
        "Invalid metadata: 1 validation error for BankedContentMetadata\nbogus\n"
    )
    for sent, message in [
        ("not json", "metadata form field must be valid JSON"),
        ("[1]", "metadata should be a json object"),
    ]:
        expect(
            hma_api("POST", "/c/bank/B/content", **photo_upload(image, metadata=sent)), 400, message
        )
    expect(
        hma_api("POST", "/c/bank/B/content", json={}),
        400,
        "Neither `url` nor multipart file upload was received",
    )
    expect(
        hma_api("POST", f"/c/bank/B/content?url={server.url}/flat.jpg"),
        400,
        "Invalid pdq signal: invalid PDQ hash",
    )
    expect(
        hma_api("POST", f"/c/bank/NOPE/content?url={server.url}/photo.jpg"),
        404,
        "bank 'NOPE' not found",
    )
    forced = hma_api("POST", f"/c/bank/B/content?url={server.url}/file.bin&content_type=photo")
    assert expect(forced, 200)["signals"] == hashed


def test_hashing_follows_hmas_rules(
    hma_api: Hma, http_server, api: Api, settings, database
) -> None:
    image = fixture_bytes("aaa-orig.jpg")
    server = http_server(
        {
            "/photo.jpg": (200, {"Content-Type": "image/jpeg"}, image),
            "/flat.jpg": (200, {"Content-Type": "IMAGE/jpeg"}, flat_image()),
            "/clip": (200, {"Content-Type": "video/mp4"}, b"not really a video"),
            "/page": (200, {"Content-Type": "text/html"}, b"<html>"),
        }
    )
    assert expect(hma_api("GET", f"/h/hash?url={server.url}/flat.jpg"), 200) == {"pdq": ""}
    clip = expect(hma_api("GET", f"/h/hash?url={server.url}/clip"), 200)
    assert clip["video_md5"] == hashlib.md5(b"not really a video").hexdigest()
    expect(
        hma_api("GET", f"/h/hash?url={server.url}/page"),
        400,
        "unsupported url ContentType: 'text/html', if you know the expected type, provide it"
        " with the content_type query param",
    )
    expect(
        hma_api("GET", f"/h/hash?url={server.url}/page&content_type=audio"),
        400,
        "no such content_type: 'audio'",
    )
    missing = expect(hma_api("GET", f"/h/hash?url={server.url}/absent.jpg"), 400)["message"]
    assert missing.startswith("Failed to fetch URL: ")
    for unsafe in ("ftp://example.org/x", "http://user:pw@127.0.0.1/x", "not a url"):
        expect(
            hma_api("GET", "/h/hash", query_string={"url": unsafe}),
            400,
            "Invalid or unsafe URL provided",
        )
    assert expect(hma_api("GET", "/h/hash"), 422)[0]["loc"] == ["url"]
    selected = hma_api("GET", f"/h/hash?url={server.url}/photo.jpg&types=video_md5")
    expect(selected, 400, "signal type 'video_md5' doesn't exist or is disabled")
    expect(
        hma_api("GET", f"/h/hash?url={server.url}/photo.jpg&types=,"),
        400,
        "empty signal type selection",
    )
    both = expect(hma_api("GET", f"/h/hash?url={server.url}/photo.jpg&types=pdq, "), 200)
    assert set(both) == {"pdq"}

    uploaded = expect(hma_api("POST", "/h/hash", **photo_upload(image)), 200)
    assert uploaded == expect(hma_api("GET", f"/h/hash?url={server.url}/photo.jpg"), 200)
    expect(hma_api("POST", "/h/hash", data={}), 400, "Missing multipart/form-data file upload")
    expect(
        hma_api("POST", "/h/hash", **photo_upload(image, "file")),
        400,
        "no such content_type: 'file'",
    )
    two = {"photo": (io.BytesIO(image), "a.jpg"), "video": (io.BytesIO(image), "b.jpg")}
    expect(
        hma_api("POST", "/h/hash", data=two, content_type="multipart/form-data"),
        400,
        "Only one file allowed per request",
    )
    text = expect(hma_api("POST", "/h/hash", **photo_upload(b"not an image")), 400)["message"]
    assert "cannot be hashed" in text  # HMA answers 500 (its quirk 42)

    # With a host list (HMA's ALLOWED_HOSTNAMES), other hosts are refused.
    narrow = api_for(settings.replace(hma_api_allowed_hosts="example.org"), database)
    refused = Hma(narrow)("GET", f"/h/hash?url={server.url}/photo.jpg")
    expect(refused, 400, "Invalid or unsafe URL provided")
    # Spellings urllib.parse reads as a listed host while the connection goes to 127.0.0.1.
    listed = api_for(settings.replace(hma_api_allowed_hosts="allowed.example"), database)
    for disguised in (
        "http://127.0.0.1\\.allowed.example/photo.jpg",
        f"http://127.0.0.1:{server.port}\\@cdn.allowed.example/photo.jpg",
    ):
        answer = Hma(listed)("GET", "/h/hash", query_string={"url": disguised})
        expect(answer, 400, "Invalid or unsafe URL provided")


def test_fetches_never_reach_private_addresses_unless_allowed(
    settings, database, http_server
) -> None:
    server = http_server(
        {"/photo.jpg": (200, {"Content-Type": "image/jpeg"}, fixture_bytes("aaa-orig.jpg"))}
    )
    guarded = Hma(api_for(settings.replace(egress_allow=""), database))
    expect(
        guarded("GET", f"/h/hash?url={server.url}/photo.jpg"), 400, "Invalid or unsafe URL provided"
    )
    assert server.requests == []


# Matching ------------------------------------------------------------------------------


def test_lookups_apply_ratios_filters_and_thresholds(hma_api: Hma) -> None:
    ids = {}
    for name, ratio in [("FULL", 1.0), ("HALF", 0.5), ("ZERO", 0.0)]:
        hma_api("POST", "/c/banks", json={"name": name, "enabled_ratio": ratio})
        ids[name] = expect(hma_api("POST", f"/c/bank/{name}/signal", json={"pdq": PDQ}), 200)["id"]
    seen: dict[str, int] = {"FULL": 0, "HALF": 0, "ZERO": 0}
    for _ in range(200):
        found = expect(hma_api("GET", f"/m/lookup?signal_type=pdq&signal={PDQ}"), 200)
        for bank in found:
            seen[bank] += 1
    assert seen["FULL"] == 200 and seen["ZERO"] == 0 and 60 < seen["HALF"] < 140
    bypass = expect(
        hma_api("GET", f"/m/lookup?signal_type=pdq&signal={PDQ}&bypass_coinflip=yes"), 200
    )
    assert set(bypass) == {"FULL", "HALF", "ZERO"}
    # A seed draws the same coin every time (Python's random seeded by the string, as HMA).
    seeded = {
        bool(
            expect(hma_api("GET", f"/m/lookup?signal_type=pdq&signal={PDQ}&seed=abc"), 200).get(
                "HALF"
            )
        )
        for _ in range(5)
    }
    assert seeded == {random.Random("abc").random() <= 0.5}
    only = expect(hma_api("GET", f"/m/lookup?signal_type=pdq&signal={PDQ}&banks=ZERO,FULL"), 200)
    assert set(only) == {"FULL"}
    untrimmed = expect(
        hma_api("GET", f"/m/lookup?signal_type=pdq&signal={PDQ}&banks=HALF, FULL"), 200
    )
    assert "FULL" not in untrimmed

    near, far = flipped(PDQ, 31), flipped(PDQ, 32)
    at_31 = expect(hma_api("GET", f"/m/lookup?signal_type=pdq&signal={near}&banks=FULL"), 200)
    assert at_31 == {"FULL": [{"bank_content_id": ids["FULL"], "distance": "31"}]}
    assert expect(hma_api("GET", f"/m/lookup?signal_type=pdq&signal={far}"), 200) == {}
    raw = expect(
        hma_api("GET", f"/m/raw_lookup?signal_type=pdq&signal={near}&include_distance=1"), 200
    )
    assert sorted(m["bank_content_id"] for m in raw["matches"]) == sorted(ids.values())
    assert {m["distance"] for m in raw["matches"]} == {"31"}
    filtered = expect(hma_api("GET", f"/m/raw_lookup?signal_type=pdq&signal={PDQ}&banks=ZERO"), 200)
    assert filtered == {"matches": [ids["ZERO"]]}

    md5 = expect(hma_api("POST", "/c/bank/FULL/signal", json={"video_md5": MD5_EMPTY}), 200)["id"]
    exact = expect(
        hma_api("GET", f"/m/lookup?signal_type=video_md5&signal={MD5_EMPTY.upper()}"), 200
    )
    assert exact == {"FULL": [{"bank_content_id": md5, "distance": "-"}]}

    for query, status, message in [
        ("signal_type=sha1&signal=ab", 400, "No such SignalType 'sha1'"),
        (f"signal_type=pdq&signal={PDQ[:-1]}", 400, "invalid signal: invalid PDQ hash"),
        ("signal_type=video_md5&signal=zz", 400, "invalid signal: 'zz' is not a valid MD5 hash"),
        ("signal_type=pdq", 400, "Either url or both signal and signal_type are required"),
        ("signal_type=pdq&signal=", 400, "Either url or both signal and signal_type are required"),
    ]:
        expect(hma_api("GET", f"/m/lookup?{query}"), status, message)
    assert (
        hma_api("GET", f"/m/lookup?signal_type=pdq&signal={PDQ}&bypass_coinflip=maybe").status_code
        == 422
    )
    assert expect(hma_api("GET", "/m/raw_lookup?signal_type=pdq"), 422)[0]["loc"] == ["signal"]


def test_lookups_by_url_and_upload_have_hmas_shapes(hma_api: Hma, http_server) -> None:
    image = fixture_bytes("aaa-orig.jpg")
    server = http_server(
        {
            "/photo.jpg": (200, {"Content-Type": "image/jpeg"}, image),
            "/flat.jpg": (200, {"Content-Type": "image/jpeg"}, flat_image()),
        }
    )
    hma_api("POST", "/c/banks", json={"name": "B"})
    item = expect(hma_api("POST", f"/c/bank/B/content?url={server.url}/photo.jpg"), 200)["id"]
    hit = [{"bank_content_id": item, "distance": "0"}]
    by_url = expect(hma_api("GET", f"/m/lookup?url={server.url}/photo.jpg"), 200)
    assert by_url == {"pdq": {"B": hit}}
    typed = expect(hma_api("GET", f"/m/lookup?url={server.url}/photo.jpg&signal_type=pdq"), 200)
    assert typed == {"B": hit}
    other = expect(
        hma_api("GET", f"/m/lookup?url={server.url}/photo.jpg&signal_type=video_md5"), 200
    )
    assert other == {}
    expect(
        hma_api("GET", f"/m/lookup?url={server.url}/flat.jpg"),
        400,
        "invalid signal: invalid PDQ hash",
    )
    uploaded = expect(hma_api("POST", "/m/lookup?bypass_coinflip=true", **photo_upload(image)), 200)
    assert uploaded == {"pdq": {"B": hit}}
    as_video = expect(hma_api("POST", "/m/lookup", **photo_upload(image, "video")), 200)
    assert as_video == {"video_md5": {}}


def test_compare_and_index_status(hma_api: Hma) -> None:
    compared = expect(hma_api("POST", "/m/compare", json={"pdq": [PDQ, flipped(PDQ, 31)]}), 200)
    assert compared == {"pdq": [True, {"distance": 31}]}
    far = expect(hma_api("POST", "/m/compare", json={"pdq": [PDQ, flipped(PDQ, 32)]}), 200)
    assert far == {"pdq": [False, {"distance": 32}]}
    assert expect(hma_api("POST", "/m/compare", json={}), 200) == {}
    # HMA answers 500 for video_md5 (its quirk 26); an exact type has no distance to show.
    md5 = expect(hma_api("POST", "/m/compare", json={"video_md5": [MD5_EMPTY, MD5_EMPTY]}), 200)
    assert md5 == {"video_md5": [True, {}]}
    for sent, message in [
        ([1], "Request input was not a dict"),
        ({"pdq": PDQ}, "Comparison hashes for pdq was not a list"),
        ({"pdq": [PDQ]}, "Comparison hash list length must be exactly 2"),
        ({"sha1": ["a", "b"]}, "No such SignalType 'sha1'"),
        ({"pdq": [PDQ, "x"]}, "Invalid pdq hash: invalid PDQ hash"),
    ]:
        expect(hma_api("POST", "/m/compare", json=sent), 400, message)

    hma_api("POST", "/c/banks", json={"name": "B"})
    hma_api("POST", "/c/bank/B/signal", json={"pdq": PDQ})
    hma_api("GET", f"/m/lookup?signal_type=pdq&signal={PDQ}")
    status = expect(hma_api("GET", "/m/index/status"), 200)
    assert set(status) == {"pdq", "video_md5"}
    assert status["pdq"]["present"] is True and status["pdq"]["size"] == 1
    assert status["pdq"]["built_to"] > 1_700_000_000 and status["video_md5"]["built_to"] == -1
    assert set(expect(hma_api("GET", "/m/index/status?signal_type=pdq"), 200)) == {"pdq"}
    expect(hma_api("GET", "/m/index/status?signal_type=x"), 400, "No such signal type 'x'")
    index = expect(hma_api("GET", "/c/signal_type/index"), 200)
    assert index["pdq"]["db_size"] == 1 and index["pdq"]["index_size"] == 1
    assert index["pdq"]["index_out_of_date"] is False
    assert set(index["pdq"]) == {
        "db_size",
        "index_built_to",
        "index_out_of_date",
        "index_size",
        "newest_db_item",
    }


def test_signal_and_content_types(hma_api: Hma) -> None:
    types = expect(hma_api("GET", "/c/signal_type"), 200)
    assert types == [
        {"enabled_ratio": 1.0, "name": "pdq"},
        {"enabled_ratio": 1.0, "name": "video_md5"},
    ]
    # Broken in HMA 1.1.7 (always 500: its quirk 6); it works here, answering 200.
    changed = hma_api("PUT", "/c/signal_type/pdq", json={"enabled_ratio": "0.5"})
    assert expect(changed, 200) == {"enabled_ratio": 0.5, "name": "pdq"}
    assert expect(hma_api("GET", "/c/signal_type"), 200)[0]["enabled_ratio"] == 0.5
    for sent, message in [
        ({}, "enabled_ratio is required"),
        ({"enabled_ratio": "lots"}, "Invalid float: 'lots'"),
        ({"enabled_ratio": 1.5}, "enabled_ratio must be from 0.0 to 1.0"),
    ]:
        expect(hma_api("PUT", "/c/signal_type/pdq", json=sent), 400, message)
    expect(
        hma_api("PUT", "/c/signal_type/sha1", json={"enabled_ratio": 1}),
        404,
        "No such signal type 'sha1'",
    )
    assert expect(hma_api("GET", "/c/content_type"), 200) == [
        {"enabled": True, "name": "photo"},
        {"enabled": True, "name": "video"},
    ]


# Exchanges -----------------------------------------------------------------------------


def test_exchange_types_credentials_and_schemas(hma_api: Hma, database) -> None:
    assert expect(hma_api("GET", "/c/exchanges/apis"), 200) == [
        "sample",
        "fb_threatexchange",
        "ncmec",
        "stop_ncii",
    ]
    unset = {"has_set_authentification": False, "supports_authentification": True}
    assert expect(hma_api("GET", "/c/exchanges/api/ncmec"), 200) == unset
    assert expect(hma_api("GET", "/c/exchanges/api/sample"), 200) == {
        "has_set_authentification": False,
        "supports_authentification": False,
    }
    assert expect(hma_api("GET", "/c/exchanges/api/sample/schema"), 200) == {
        "config_schema": {"fields": []},
        "credentials_schema": None,
    }
    refused = hma_api("POST", "/c/exchanges/api/sample", json={"credential_json": {"k": "v"}})
    expect(refused, 400, "the sample exchange API takes no credentials")
    expect(hma_api("GET", "/c/exchanges/api/local_file"), 400, "no such Exchange API 'local_file'")
    expect(
        hma_api("GET", "/c/exchanges/api/local_file/schema"),
        404,
        "Exchange API 'local_file' not found",
    )

    schema = expect(hma_api("GET", "/c/exchanges/api/ncmec/schema"), 200)
    environment, esp = schema["config_schema"]["fields"]
    assert environment["name"] == "environment" and environment["type"] == "enum"
    assert len(environment["choices"]) == 14 and environment["required"] is True
    assert esp | {"help": ""} == {
        "choices": None,
        "default": [],
        "help": "",
        "name": "only_esp_ids",
        "required": False,
        "type": "set_of_number",
    }
    assert [f["name"] for f in schema["credentials_schema"]["fields"]] == ["user", "password"]
    tx = expect(hma_api("GET", "/c/exchanges/api/fb_threatexchange/schema"), 200)
    assert tx["config_schema"]["fields"][0]["type"] == "number"
    nc = expect(hma_api("GET", "/c/exchanges/api/stop_ncii/schema"), 200)
    assert nc["config_schema"] == {"fields": []}

    given = {"credential_json": {"user": "u", "password": "secret-pw"}}
    assert expect(hma_api("POST", "/c/exchanges/api/ncmec", json=given), 200)[
        "has_set_authentification"
    ]
    assert expect(hma_api("POST", "/c/exchanges/api/ncmec", json={}), 200)[
        "has_set_authentification"
    ]
    missing = hma_api("POST", "/c/exchanges/api/ncmec", json={"credential_json": {"user": "u"}})
    expect(missing, 400, 'Failed to parse `credential_json` - missing value for field "password"')
    expect(
        hma_api("POST", "/c/exchanges/api/ncmec", json=[1]),
        400,
        "this endpoint expects a json object payload",
    )
    cleared = hma_api("POST", "/c/exchanges/api/ncmec", json={"credential_json": {}})
    assert expect(cleared, 200) == unset
    with database.session() as session:
        texts = [json.dumps(e.details) for e in session.scalars(select(AuditEntry))]
    assert not any("secret-pw" in text for text in texts)


def test_exchanges_are_created_shown_changed_and_deleted(hma_api: Hma) -> None:
    ncmec = {
        "bank": "NC1",
        "api": "ncmec",
        "api_json": {
            "environment": "https://exttest.cybertip.org/hashsharing",
            "only_esp_ids": [2, 1],
        },
    }
    expect(hma_api("POST", "/c/exchanges", json=ncmec), 201, "Created successfully")
    tx = {
        "bank": "TX1",
        "api": "fb_threatexchange",
        "api_json": {"privacy_group": 123, "enabled": False},
    }
    expect(hma_api("POST", "/c/exchanges", json=tx), 201, "Created successfully")
    assert expect(hma_api("GET", "/c/exchanges"), 200) == ["NC1", "TX1"]
    assert expect(hma_api("GET", "/c/bank/NC1"), 200) == {
        "matching_enabled_ratio": 1.0,
        "name": "NC1",
    }
    assert expect(hma_api("GET", "/c/exchange/NC1"), 200) == {
        "api": "ncmec",
        "enabled": True,
        "environment": "https://exttest.cybertip.org/hashsharing",
        "name": "NC1",
        "only_esp_ids": [1, 2],
    }
    assert expect(hma_api("GET", "/c/exchange/TX1"), 200) == {
        "api": "fb_threatexchange",
        "enabled": False,
        "name": "TX1",
        "privacy_group": 123,
    }
    hma_api("POST", "/c/banks", json={"name": "PLAIN"})
    expect(hma_api("GET", "/c/exchange/PLAIN"), 404, "Exchange 'PLAIN' not found")

    for sent, message in [
        ({"api": "ncmec"}, "bank is required"),
        ({"bank": "lower", "api": "ncmec"}, "Field `bank` must match /^[A-Z0-9_]+$/"),
        ({"bank": "9X", "api": "ncmec"}, "Bank names must be UPPER_WITH_UNDERSCORE"),
        ({"bank": "X", "api": "ncmec", "api_json": None}, "Field `api_json` must be object"),
        ({"bank": "X"}, "Field `api_type` is required"),
        ({"bank": "X", "api": "local_file"}, "No such exchange type 'local_file'"),
        (
            {"bank": "X", "api": "fb_threatexchange", "api_json": {}},
            'Failed to parse `api_json` - missing value for field "privacy_group"',
        ),
        (
            {"bank": "X", "api": "fb_threatexchange", "api_json": {"privacy_group": "123"}},
            'Failed to parse `api_json` - wrong value type for field "privacy_group" - should be'
            ' "int" instead of value "123" of type "str"',
        ),
        (
            {"bank": "X", "api": "ncmec", "api_json": {"environment": "test_Industry"}},
            "Failed to parse `api_json` - 'test_Industry' is not a valid NCMECEnvironment",
        ),
        ({"bank": "PLAIN", "api": "stop_ncii"}, "Bank already exists"),
    ]:
        response = hma_api("POST", "/c/exchanges", json=sent)
        assert body(response) == {"message": message}, sent
        assert response.status_code in (400, 403)

    changed = hma_api("PUT", "/c/exchange/TX1", json={"enabled": "true"})
    assert expect(changed, 200)["enabled"] is True
    assert hma_api("PUT", "/c/exchange/TX1", data="x").status_code == 422
    expect(hma_api("PUT", "/c/exchange/NOPE", json={}), 404, "Exchange 'NOPE' not found")
    status = expect(hma_api("GET", "/c/exchange/TX1/status"), 200)
    assert status == {
        "checkpoint_ts": None,
        "fetched_items": 0,
        "last_fetch_complete_ts": None,
        "last_fetch_succeeded": None,
        "running_fetch_start_ts": None,
        "up_to_date": False,
    }
    expect(hma_api("GET", "/c/exchange/NOPE/status"), 404, "Exchange 'NOPE' not found")

    expect(hma_api("DELETE", "/c/exchange/NC1"), 200, "Exchange deleted")
    expect(hma_api("GET", "/c/bank/NC1"), 404, "bank 'NC1' not found")
    expect(hma_api("DELETE", "/c/exchange/NC1"), 200, "Exchange deleted")
    # Deleting an exchange's bank takes the exchange with it (HMA orphans it: quirk 36).
    expect(hma_api("DELETE", "/c/bank/TX1"), 200, "Done")
    assert expect(hma_api("GET", "/c/exchanges"), 200) == []


def test_an_exchange_syncs_with_the_credentials_of_its_type(api: Api, hma_api: Hma) -> None:
    fake = FakeStopNCII()
    try:
        fake.records = [NCIIRecord("ImagePDQ", PDQ, 100), NCIIRecord("VideoMD5", MD5_EMPTY, 101)]
        hma_api("POST", "/c/exchanges", json={"bank": "NCII", "api": "stop_ncii"})
        credentials = {
            "fetch_function_key": "fetch-key",
            "subscription_key": "sub-key",
            "base_url_override": f"{fake.url}/v1",
        }
        hma_api("POST", "/c/exchanges/api/stop_ncii", json={"credential_json": credentials})
        app = api.client.application
        with app.app_context():
            from hma.web.context import services

            report = services().exchanges.sync("NCII")
        assert report.error is None, report.to_dict()
        status = expect(hma_api("GET", "/c/exchange/NCII/status"), 200)
        assert status["fetched_items"] == 2 and status["last_fetch_succeeded"] is True
        assert status["up_to_date"] is True and status["running_fetch_start_ts"] is None
        assert isinstance(status["last_fetch_complete_ts"], int)
        found = expect(hma_api("GET", f"/m/lookup?signal_type=pdq&signal={PDQ}"), 200)
        [hit] = found["NCII"]
        item = expect(hma_api("GET", f"/c/bank/NCII/content/{hit['bank_content_id']}"), 200)
        assert list(item["metadata"]["collab"]) == ["NCII"]
    finally:
        fake.close()


def test_a_sample_exchange_needs_nothing_and_serves_the_examples(api: Api, hma_api: Hma) -> None:
    """HMA's `sample` type, as its own tests use it: created with an empty `api_json`,
    its status shown, its examples matched once synced, deleted with its bank."""
    created = hma_api("POST", "/c/exchanges", json={"api": "sample", "bank": "SAMPLE_EX"})
    assert created.status_code == 201, created.get_data(as_text=True)
    status = expect(hma_api("GET", "/c/exchange/SAMPLE_EX/status"), 200)
    assert {
        "checkpoint_ts",
        "running_fetch_start_ts",
        "last_fetch_complete_ts",
        "last_fetch_succeeded",
        "up_to_date",
        "fetched_items",
    } <= set(status)
    with api.client.application.app_context():
        from hma.web.context import services

        report = services().exchanges.sync("SAMPLE_EX")
    assert report.error is None, report.to_dict()
    found = expect(hma_api("GET", f"/m/lookup?signal_type=pdq&signal={PDQ}"), 200)
    assert [hit["distance"] for hit in found["SAMPLE_EX"]] == ["0"]  # HMA writes text
    fetched = expect(hma_api("GET", "/c/exchange/SAMPLE_EX/status"), 200)
    assert fetched["fetched_items"] >= 10 and fetched["last_fetch_succeeded"] is True
    deleted = expect(hma_api("DELETE", "/c/exchange/SAMPLE_EX"), 200)
    assert deleted["message"] == "Exchange deleted"
    expect(hma_api("GET", "/c/exchange/SAMPLE_EX/status"), 404, "Exchange 'SAMPLE_EX' not found")


def test_remote_files_over_hmas_size_limit_get_413(http_server, settings, database) -> None:
    """HMA's `MAX_REMOTE_FILE_SIZE` (100 MiB unless configured) bounds `/h/hash?url=`."""
    assert settings.hma_api_max_remote_file_bytes == 100 * 1024 * 1024
    limit = 4096
    small = Hma(api_for(settings.replace(hma_api_max_remote_file_bytes=limit), database))
    clip = b"v" * limit
    server = http_server(
        {
            "/at-limit": (200, {"Content-Type": "video/mp4"}, clip),
            "/over": (200, {"Content-Type": "video/mp4"}, clip + b"v"),
        }
    )
    at_limit = expect(small("GET", f"/h/hash?url={server.url}/at-limit"), 200)
    assert at_limit == {"video_md5": hashlib.md5(clip).hexdigest()}
    expect(small("GET", f"/h/hash?url={server.url}/over"), 413, "Content too large")


def test_type_credentials_reach_only_exchanges_at_the_types_own_addresses(
    api: Api, hma_api: Hma, database
) -> None:
    """A curator who points an exchange of the type at their own host must not be handed
    the type's credentials when they are set or rotated."""
    thief = FakeServer()
    try:
        assert api.post("/banks", role="curator", json={"name": "mine"}).status_code == 201
        for name, kind, settings in (
            ("grab-tx", "threatexchange", {"privacy_group": "1"}),
            ("grab-nc", "ncmec", {}),
        ):
            made = api.post(
                "/exchanges",
                role="curator",
                json={
                    "name": name,
                    "type": kind,
                    "bank": "mine",
                    "url": thief.url,
                    "credentials": "own:creds",
                    "settings": settings,
                    "enabled": False,
                },
            )
            assert made.status_code == 201, made.get_json()
        tx = {"bank": "TX1", "api": "fb_threatexchange", "api_json": {"privacy_group": 7}}
        expect(hma_api("POST", "/c/exchanges", json=tx), 201)
        real = {
            "fb_threatexchange": {"api_token": "1234|real-app-secret"},
            "ncmec": {"user": "esp", "password": "real-ncmec-password"},
        }
        for api_name, credential_json in real.items():
            body = {"credential_json": credential_json}
            expect(hma_api("POST", f"/c/exchanges/api/{api_name}", json=body), 200)
        nc = {
            "bank": "NC1",
            "api": "ncmec",
            "api_json": {"environment": "https://exttest.cybertip.org/hashsharing"},
        }
        expect(hma_api("POST", "/c/exchanges", json=nc), 201)
        app = api.client.application
        with app.app_context():
            from hma.web.context import services

            for name in ("grab-tx", "grab-nc"):
                services().exchanges.sync(name)
            box = services().exchanges.box
            with database.session() as session:
                held = {
                    e.name: box.decrypt(e.credentials)
                    for e in session.scalars(select(Exchange))
                    if e.credentials
                }
        assert held["grab-tx"] == held["grab-nc"] == "own:creds"
        assert held["TX1"] == "1234|real-app-secret" and held["NC1"] == "esp:real-ncmec-password"
        seen = json.dumps([(r.path, r.query, r.headers) for r in thief.requests])
        assert thief.requests and "real-app-secret" not in seen
        assert "ZXNwOnJlYWwtbmNtZWMtcGFzc3dvcmQ" not in seen  # base64 of esp:real-ncmec-...
        with database.session() as session:
            entries = session.scalars(
                select(AuditEntry).where(AuditEntry.subject.like("exchange-api:%"))
            ).all()
            details = {e.subject: e.details for e in entries}
        assert details["exchange-api:fb_threatexchange"]["exchanges"] == ["TX1"]
        assert details["exchange-api:fb_threatexchange"]["withheld_from"] == ["grab-tx"]
        assert details["exchange-api:ncmec"]["withheld_from"] == ["grab-nc"]
    finally:
        thief.close()


# Access --------------------------------------------------------------------------------


def test_every_route_but_the_probes_needs_a_token_of_the_right_role(api: Api, hma_api: Hma) -> None:
    hma_api("GET", f"/m/lookup?signal_type=pdq&signal={PDQ}")  # loads the indexes
    assert hma_api("GET", "/status", role="").status_code == 200
    live = hma_api("GET", "/status/live", role="")
    assert live.status_code == 200 and live.get_data(as_text=True) == "I-AM-ALIVE"
    assert live.content_type.startswith("text/html")
    for path in ("/c/banks", "/m/index/status", "/site-map", "/openapi/openapi.json"):
        refused = hma_api("GET", path, role="")
        assert refused.status_code == 401 and set(body(refused)) == {"message"}
    assert hma_api("GET", "/c/banks", role=Role.INGEST).status_code == 403
    assert hma_api("GET", "/c/banks", role=Role.REVIEWER).status_code == 403
    assert hma_api("GET", "/m/index/status", role=Role.INGEST).status_code == 200
    assert hma_api("GET", "/m/index/status", role=Role.REVIEWER).status_code == 403
    assert hma_api("GET", "/c/banks", role=Role.ADMIN).status_code == 200
    token = api.tokens[Role.CURATOR]
    by_path = api.client.get(f"/t/{token}/c/banks")
    assert by_path.status_code == 200 and body(by_path) == []
    assert api.client.get("/t/wrong-token/c/banks").status_code == 401
    unknown = hma_api("GET", "/c/nothing")
    assert unknown.status_code == 404 and set(body(unknown)) == {"message"}
    assert set(body(hma_api("PATCH", "/c/banks"))) == {"message"}
    site = expect(hma_api("GET", "/site-map"), 200)
    assert "/c/bank/<bank_name>" in site and site == sorted(site)
    spec = expect(hma_api("GET", "/openapi/openapi.json"), 200)
    assert spec["info"]["title"] == "Open Media Match API"  # as HMA names it; its tests check
    assert "/c/bank/{bank_name}/content/{content_id}" in spec["paths"]
    assert set(spec["paths"]["/m/lookup"]) == {"get", "post"}


def test_status_says_when_the_indexes_are_not_loaded(api: Api, hma_api: Hma) -> None:
    with api.client.application.app_context():
        from hma.web.context import services

        services().scanner.indexes.unload()
    assert hma_api("GET", "/status").get_data(as_text=True) == "INDEX-NOT-LOADED"
    assert hma_api("GET", "/status").status_code == 503
    hma_api("GET", f"/m/lookup?signal_type=pdq&signal={PDQ}")  # a lookup loads them
    assert hma_api("GET", "/status").status_code == 200


def test_lookups_open_cases_only_when_the_operator_says_so(settings, database) -> None:
    quiet = Hma(api_for(settings, database))
    quiet("POST", "/c/banks", json={"name": "B"})
    quiet("POST", "/c/bank/B/signal", json={"pdq": PDQ})
    quiet("GET", f"/m/lookup?signal_type=pdq&signal={PDQ}&content_ref=post-1")
    routed = api_for(settings.replace(hma_api_opens_cases=True), database)
    cases = routed.get("/cases").get_json()["cases"]
    assert cases == []
    hma = Hma(routed)
    found = expect(hma("GET", f"/m/lookup?signal_type=pdq&signal={PDQ}&content_ref=post-1"), 200)
    assert list(found) == ["B"]
    hma("GET", f"/m/lookup?signal_type=pdq&signal={flipped(PDQ, 40)}&content_ref=post-2")
    [case] = routed.get("/cases").get_json()["cases"]
    assert case["content_ref"] == "post-1"
    # Without a content_ref, the case is named after the hash.
    hma("GET", f"/m/lookup?signal_type=pdq&signal={flipped(PDQ, 3)}")
    refs = {c["content_ref"] for c in routed.get("/cases").get_json()["cases"]}
    assert refs == {"post-1", f"hma-lookup:pdq:{flipped(PDQ, 3)}"}


# Coop ----------------------------------------------------------------------------------


def test_coops_sequence_of_calls_with_a_token_in_the_base_url(
    api: Api, http_server, database
) -> None:
    """Coop's calls, as it makes them: base URL ending in `/` (so `//c/...`), no headers
    but Content-Type, ratios as strings, and here a token in the base URL."""
    image = fixture_bytes("aaa-orig.jpg")
    server = http_server({"/media/1.jpg": (200, {"Content-Type": "image/jpeg"}, image)})
    base = f"/t/{api.tokens[Role.CURATOR]}/"
    client = api.client
    name = "COOP_0A1B2C3D4E_KNOWN_BAD"

    created = client.post(base + "/c/banks", json={"name": name, "enabled_ratio": "1"})
    assert created.status_code == 201
    listed = client.get(base + f"/c/bank/{name}", headers={"Content-Type": "application/json"})
    assert body(listed) == {"matching_enabled_ratio": 1.0, "name": name}
    added = client.post(
        base + f"/c/bank/{name}/content?url={server.url}/media/1.jpg",
        json={"metadata": {"content_id": "item-1", "content_uri": f"{server.url}/media/1.jpg"}},
    )
    assert added.status_code == 200
    item = body(added)["id"]

    exchange = "COOP_0A1B2C3D4E_NCMEC"
    apis = body(client.get(base + "/c/exchanges/apis"))
    assert "ncmec" in apis
    assert body(client.get(base + "/c/exchanges/api/ncmec"))["supports_authentification"] is True
    creds = {"credential_json": {"user": "coop", "password": "pw"}}
    assert client.post(base + "/c/exchanges/api/ncmec", json=creds).status_code == 200
    create = {
        "bank": exchange,
        "api": "ncmec",
        "api_json": {"environment": "https://exttest.cybertip.org/hashsharing"},
    }
    assert client.post(base + "/c/exchanges", json=create).status_code == 201
    assert client.put(base + f"/c/bank/{exchange}", json={"enabled_ratio": 0.5}).status_code == 200
    assert body(client.get(base + f"/c/bank/{exchange}"))["matching_enabled_ratio"] == 0.5
    shown = body(client.get(base + f"/c/exchange/{exchange}"))
    assert shown["api"] == "ncmec" and shown["enabled"] is True
    assert client.get(base + f"/c/exchange/{name}").status_code == 404  # a plain bank
    status = body(client.get(base + f"/c/exchange/{exchange}/status"))
    assert set(status) >= {
        "last_fetch_succeeded",
        "last_fetch_complete_ts",
        "up_to_date",
        "fetched_items",
        "running_fetch_start_ts",
    }

    hashed = body(client.get(base + "/h/hash", query_string={"url": f"{server.url}/media/1.jpg"}))
    looked = client.get(
        base + "/m/lookup", query_string={"signal_type": "pdq", "signal": hashed["pdq"]}
    )
    assert body(looked) == {name: [{"bank_content_id": item, "distance": "0"}]}
    # An image too flat to hash: Coop leaves `signal` out, and gets a 400.
    assert client.get(base + "/m/lookup?signal_type=pdq").status_code == 400

    assert client.delete(base + f"/c/bank/{name}").status_code == 200
    assert client.get(base + f"/c/bank/{name}").status_code == 404
    with database.session() as session:
        actors = set(
            session.scalars(select(AuditEntry.actor).where(AuditEntry.subject == f"bank:{name}"))
        )
        assert len(actors) == 1 and "curator" in actors.pop()
        assert session.scalar(select(Bank).where(Bank.name == name)) is None
        assert session.scalar(select(BankContent).where(BankContent.id == item)) is None


# A real server ---------------------------------------------------------------------------


def create_token_for(database, role: str) -> str:
    with database.session() as session:
        return create_token(session, f"hma-api-{role}", role)


def raw_get(port: int, path: str, token: str | None = None) -> tuple[int, Any]:
    """A GET with the path sent exactly as given (`//c/banks` stays as it is)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        connection.request("GET", path, headers=headers)
        answer = connection.getresponse()
        text = answer.read().decode()
        try:
            return answer.status, json.loads(text)
        except ValueError:
            return answer.status, text
    finally:
        connection.close()


@pytest.mark.slow
def test_hmas_api_on_a_port_of_its_own(tmp_path, database_url, database) -> None:
    """`hma serve` with `hma_api_port`: HMA's API answers there and only there, and the
    paths Coop sends (`//c/...` after a base URL ending in `/`) are served as they are."""
    token = create_token_for(database, Role.CURATOR)
    port = free_port()
    env = server_env(database_url, hma_api_port=str(port), scheduler="false")
    with replicas() as started:
        server = Replica(tmp_path / "server", env, "--workers", "1")
        started.append(server)
        server.wait_ready()
        assert raw_get(port, "/status") == (200, "I-AM-ALIVE")
        assert raw_get(port, "//c/banks", token) == (200, [])
        assert raw_get(port, f"/t/{token}//c/banks") == (200, [])
        status, answer = raw_get(port, "/api/v1/banks", token)
        assert status == 404 and set(answer) == {"message"}
        status, answer = raw_get(server.port, "/c/banks", token)
        assert status == 404 and "its own port" in answer["message"]
        assert raw_get(server.port, "/api/v1/banks", token)[0] == 200
        assert raw_get(port, "/c/banks")[0] == 401
        assert f"/t/{token}" not in server.log()
