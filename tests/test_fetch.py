"""Hashing by URL: real HTTP servers on 127.0.0.1, and the guard against internal addresses."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from banks.egress import Egress, EgressPolicy, parse_allowed_peers
from banks.fetch import MediaFetcher
from core.errors import UrlFetchFailed, UrlNotAllowed
from tests.conftest import api_for, fixture_bytes, loopback_egress

PUBLIC_ONLY = Egress(EgressPolicy())


def fetcher(egress: Egress, max_bytes: int) -> MediaFetcher:
    return MediaFetcher(egress, max_bytes=max_bytes, timeout=5, concurrency=4)


def only(*servers) -> Egress:
    """A client that may reach these test servers (by port) and no other private address."""
    allowed = ",".join(f"127.0.0.1:{server.url.rsplit(':', 1)[1]}" for server in servers)
    return Egress(EgressPolicy(allowed=parse_allowed_peers(allowed)))


def test_private_addresses_are_refused_by_default(http_server):
    server = http_server({"/a.jpg": (200, {}, fixture_bytes("wee.jpg"))})
    with pytest.raises(UrlNotAllowed, match="not a public address"):
        fetcher(PUBLIC_ONLY, 10**6).fetch(f"{server.url}/a.jpg")
    assert server.requests == []  # refused before any request was sent


def test_redirects_to_private_addresses_are_refused(http_server):
    target = http_server({"/a.jpg": (200, {}, fixture_bytes("wee.jpg"))})
    hop = http_server({"/go": (302, {"Location": f"{target.url}/a.jpg"}, b"")})
    assert fetcher(only(hop, target), 10**6).fetch(f"{hop.url}/go")
    assert len(target.requests) == 1
    with pytest.raises(UrlNotAllowed):
        fetcher(only(hop), 10**6).fetch(f"{hop.url}/go")
    assert len(target.requests) == 1  # the second redirect never reached it


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://127.0.0.1/x", UrlNotAllowed),
        ("http:///nohost", UrlNotAllowed),
        ("http://127.0.0.1:1/closed", UrlFetchFailed),
    ],
)
def test_bad_urls(url, error):
    with pytest.raises(error):
        fetcher(loopback_egress(), 10**6).fetch(url)


def test_http_errors_and_size_limit(http_server):
    from core.errors import MediaTooLarge

    server = http_server({"/big": (200, {}, b"x" * 5000)})
    with pytest.raises(UrlFetchFailed, match="404"):
        fetcher(loopback_egress(), 10**6).fetch(f"{server.url}/missing")
    with pytest.raises(MediaTooLarge):
        fetcher(loopback_egress(), 1000).fetch(f"{server.url}/big")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_hash_and_scan_by_url_over_http(http_server, settings, database, expected):
    server = http_server(
        {
            "/orig.jpg": (200, {"Content-Type": "image/jpeg"}, fixture_bytes("aaa-orig.jpg")),
            "/text": (200, {}, b"hello"),
        }
    )
    api = api_for(settings, database)
    hashed = api.post("/hash", role="ingest", json={"url": f"{server.url}/orig.jpg"})
    assert hashed.status_code == 200
    pdq = next(s for s in hashed.get_json()["signals"] if s["type"] == "pdq")
    assert pdq["value"] == expected["aaa-orig.jpg"]["pdq"]
    not_image = api.post("/hash", role="ingest", json={"url": f"{server.url}/text"})
    assert not_image.status_code == 400
    assert not_image.get_json()["error"]["code"] == "unsupported_media"
    missing = api.post("/hash", role="ingest", json={"url": f"{server.url}/nope"})
    assert missing.get_json()["error"]["code"] == "url_fetch_failed"

    guarded = api_for(settings.replace(egress_allow=""), database)
    refused = guarded.post("/hash", role="ingest", json={"url": f"{server.url}/orig.jpg"})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "url_not_allowed"


def test_slow_hosts_hold_a_few_threads_for_the_deadline_and_no_more(
    settings, database, trickling_peer
):
    """A host that never finishes its headers holds a fetch for `fetch_timeout_seconds`
    in all; beyond `fetch_concurrency` fetches a worker answers 503 at once, and lookups
    go on being answered meanwhile."""
    api = api_for(settings.replace(fetch_timeout_seconds=1.5, fetch_concurrency=1), database)
    peer = trickling_peer(every=0.2)
    outcome: dict[str, Any] = {}

    def slow_fetch() -> None:
        started = time.monotonic()
        answer = api.post("/hash", role="ingest", json={"url": f"{peer.url}/never.jpg"})
        outcome.update(answer=answer, seconds=time.monotonic() - started)

    worker = threading.Thread(target=slow_fetch)
    worker.start()
    time.sleep(0.5)
    started = time.monotonic()
    busy = api.post("/hash", role="ingest", json={"url": f"{peer.url}/too.jpg"})
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    assert busy.get_json()["error"]["code"] == "fetches_busy"
    signals = {"signals": [{"type": "md5", "value": "0" * 32}]}
    assert api.post("/match", role="ingest", json=signals).status_code == 200
    assert time.monotonic() - started < 1.0
    worker.join(10)
    answer = outcome["answer"]
    assert answer.status_code == 400 and "deadline" in answer.get_json()["error"]["message"]
    assert outcome["seconds"] < 3
