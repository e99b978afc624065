"""The egress policy: where exchanges, webhooks and URL fetches may go, tried as an attacker would.

Every peer is a real HTTP server on 127.0.0.1. A peer that is not on the
allow-list must see no request at all: the policy refuses before connecting.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from banks.egress import AllowedPeer, Egress, EgressPolicy, parse_allowed_peers, parse_target
from banks.exchanges.http import HttpClient, parse_xml
from core.errors import EgressFailed, EgressRefused, ExchangeError, MalformedResponse
from database import audit
from database.audit import AuditEntry
from hma.web.context import EXTENSION
from tests.conftest import api_for

MD5 = "0123456789abcdef0123456789abcdef"


def allowing(*servers: Any) -> Egress:
    """A client that may reach exactly these servers' ports on loopback."""
    text = ",".join(f"127.0.0.1:{server.port}" for server in servers)
    return Egress(EgressPolicy(allowed=parse_allowed_peers(text)))


def only_peers(settings: Any, *servers: Any) -> Any:
    return settings.replace(egress_allow=",".join(f"127.0.0.1:{s.port}" for s in servers))


def sync_now(api: Any, name: str) -> Any:
    """Run the exchange's sync in this thread, through the app's own services."""
    return api.client.application.extensions[EXTENSION].exchanges.sync(name)


def create_list(api: Any, url: str, **extra: Any) -> Any:
    body = {"name": "l", "type": "list", "bank": "followed", "url": url, **extra}
    return api.post("/exchanges", role="curator", json=body)


# The policy -----------------------------------------------------------------------------


def test_allow_list_entries_parse_with_and_without_ports():
    assert parse_allowed_peers("10.0.0.0/8, 127.0.0.1:8080,[::1]:443,[fd00::/8]") == (
        AllowedPeer(ipaddress.ip_network("10.0.0.0/8")),
        AllowedPeer(ipaddress.ip_network("127.0.0.1/32"), 8080),
        AllowedPeer(ipaddress.ip_network("::1/128"), 443),
        AllowedPeer(ipaddress.ip_network("fd00::/8")),
    )
    policy = EgressPolicy(allowed=parse_allowed_peers("127.0.0.1:8080,10.0.0.0/8"))
    assert policy.permits("127.0.0.1", 8080) and not policy.permits("127.0.0.1", 8081)
    assert policy.permits("10.2.3.4", 1) and not policy.permits("192.168.0.1", 80)
    assert policy.permits("93.184.215.14", 80)  # public
    for internal in ("169.254.169.254", "::1", "::ffff:127.0.0.1", "0.0.0.0", "fc00::1"):
        assert not EgressPolicy().permits(internal, 80), internal
    # IPv6 spellings of private IPv4 addresses: NAT64, 6to4, IPv4-compatible, SIIT.
    for embedded in (
        "64:ff9b::a9fe:a9fe",  # 169.254.169.254 through the well-known NAT64 prefix
        "64:ff9b:1::808:808",  # local-use NAT64 is never global
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "::10.0.0.1",  # IPv4-compatible
        "::ffff:0:192.168.0.1",  # IPv4-translated (SIIT)
    ):
        assert not EgressPolicy().permits(embedded, 80), embedded
    for public in ("64:ff9b::808:808", "2002:808:808::1", "::ffff:0:8.8.8.8"):
        assert EgressPolicy().permits(public, 80), public
    for bad in ("intranet", "10.0.0.0/33", "127.0.0.1:0", "[::1]x"):
        with pytest.raises(ValueError, match="not an address or network"):
            parse_allowed_peers(bad)


def test_an_unlisted_loopback_peer_sees_nothing(http_server):
    victim = http_server({"/api/v1/cases": (200, {}, b"internal")})
    for url in (f"{victim.url}/api/v1/cases", f"http://localhost:{victim.port}/api/v1/cases"):
        with pytest.raises(EgressRefused, match="not a public address"):
            Egress(EgressPolicy()).send("GET", url, timeout=5, max_bytes=1000)
    other = http_server({})
    with pytest.raises(EgressRefused):
        allowing(other).send("GET", f"{victim.url}/api/v1/cases", timeout=5, max_bytes=1000)
    assert victim.requests == []
    answer = allowing(victim).send("GET", f"{victim.url}/api/v1/cases", timeout=5, max_bytes=1000)
    assert answer.status == 200 and answer.body == b"internal" and len(victim.requests) == 1


def test_local_files_only_from_the_import_folder(tmp_path):
    folder = tmp_path / "imports"
    folder.mkdir()
    (folder / "list.txt").write_text(f"md5 {MD5}\n")
    (folder / "passwd").symlink_to("/etc/passwd")
    policy = EgressPolicy(import_folder=folder)
    assert policy.local_file(str(folder / "list.txt")) == (folder / "list.txt").resolve()
    assert policy.local_file("list.txt") == (folder / "list.txt").resolve()
    for outside in ("/etc/passwd", "/dev/zero", "../../etc/passwd", str(folder / "passwd")):
        with pytest.raises(EgressRefused, match="outside the import folder"):
            policy.local_file(outside)
    os.mkfifo(folder / "pipe")
    with pytest.raises(EgressRefused, match="not a regular file"):
        policy.local_file(str(folder / "pipe"))
    with pytest.raises(EgressRefused, match="import_folder setting"):
        EgressPolicy().local_file(str(folder / "list.txt"))


# Exchanges a curator sets up ------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_curator_cannot_point_a_list_at_local_files_or_internal_addresses(
    settings, database, http_server, tmp_path
):
    victim = http_server({"/api/v1/cases": (200, {}, b'{"cases": []}')})
    api = api_for(settings.replace(egress_allow=""), database)
    assert api.post("/banks", json={"name": "followed"}).status_code == 201
    for url, why in [
        ("/etc/passwd", "outside the import folder"),
        ("file:///etc/passwd", "outside the import folder"),
        ("/dev/zero", "outside the import folder"),
        (f"{victim.url}/api/v1/cases", "not a public address"),
        ("http://169.254.169.254/latest/meta-data/", "not a public address"),
        ("http://[::1]:80/", "not a public address"),
        ("gopher://example.org/", "only http:// and https://"),
    ]:
        answer = create_list(api, url)
        assert answer.status_code == 400, (url, answer.get_json())
        error = answer.get_json()["error"]
        assert error["code"] == "egress_refused" and why in error["message"], (url, error)
    assert victim.requests == []
    # A name is checked on what it resolves to, when the sync connects.
    created = create_list(api, f"http://localhost:{victim.port}/api/v1/cases")
    assert created.status_code == 201
    report = sync_now(api, "l")
    assert not report.ok and "not a public address" in report.error
    state = api.get("/exchanges/l", role="curator").get_json()
    assert "not a public address" in json.dumps(state)
    assert victim.requests == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_changing_an_exchanges_origin_needs_its_credentials_again(settings, database, http_server):
    home = http_server({"/list": (200, {}, f"md5 {MD5}\n".encode())})
    elsewhere = http_server({"/list": (200, {}, b"")})
    api = api_for(only_peers(settings, home, elsewhere), database)
    assert api.post("/banks", json={"name": "followed"}).status_code == 201
    assert create_list(api, f"{home.url}/list", credentials="tok-123456").status_code == 201

    moved = api.patch("/exchanges/l", role="curator", json={"url": f"{elsewhere.url}/list"})
    assert moved.status_code == 400
    assert moved.get_json()["error"]["code"] == "credentials_required"
    same_origin = api.patch("/exchanges/l", role="curator", json={"url": f"{home.url}/list?v=2"})
    assert same_origin.status_code == 200
    body = {"url": f"{elsewhere.url}/list", "credentials": "tok-654321"}
    assert api.patch("/exchanges/l", role="curator", json=body).status_code == 200
    with database.session() as session:
        last = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == audit.EXCHANGE_CHANGE)
            .order_by(AuditEntry.id.desc())
        ).first()
        assert last is not None
        details = json.loads(last.details) if isinstance(last.details, str) else last.details
    assert details["url"] == f"{elsewhere.url}/list"
    assert "tok-654321" not in json.dumps(details)


def test_a_redirect_to_another_origin_drops_the_credentials(http_server):
    thief = http_server({"/list": (200, {}, f"md5 {MD5}\n".encode())})
    exchange = http_server({"/list": (302, {"Location": f"{thief.url}/list"}, b"")})
    client = HttpClient(allowing(exchange, thief), origin_url=exchange.url, secrets=["k3y-SECRET"])
    headers = {"Authorization": "Bearer k3y-SECRET", "x-functions-key": "k3y-SECRET"}
    answer = client.request("GET", f"{exchange.url}/list", headers=headers)
    assert answer.status == 200 and answer.body.startswith(b"md5")
    assert exchange.headers[0]["authorization"] == "Bearer k3y-SECRET"
    assert "authorization" not in thief.headers[0] and "x-functions-key" not in thief.headers[0]
    # A request the adapter itself aims elsewhere with the credentials is refused outright.
    with pytest.raises(ExchangeError, match="not the origin"):
        client.request("GET", f"{thief.url}/list", params={"access_token": "k3y-SECRET"})
    assert len(thief.requests) == 1


# One reading of a URL ------------------------------------------------------------------


def test_urls_parsers_read_differently_are_refused_and_the_rest_read_as_urllib3_connects():
    # urllib.parse reads the host of the first as "good", urllib3 connects to "evil".
    for ambiguous in (
        "http://evil\\@good/",
        "http://evil:1\\@good:2/x",
        "http://user:pw@good/",
        "http://@good/",
        "http://go%6fd/",
        "http://good/a b",
        "http://good\t/",
        "http://good/\x00",
        "ftp://good/",
        "http:/good/",
        "http:///path",
        "http://good:99999/",
    ):
        with pytest.raises(EgressRefused):
            parse_target(ambiguous)
    read = parse_target("HTTPS://Bücher.Example/p\\q?x=@")
    assert (read.scheme, read.host, read.port) == ("https", "xn--bcher-kva.example", 443)
    assert parse_target("http://[::1]:8080/").origin == ("http", "::1", 8080)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_exchange_cannot_be_moved_to_an_address_read_two_ways(settings, database, http_server):
    home = http_server({"/list": (200, {}, f"md5 {MD5}\n".encode())})
    thief = http_server({"/list": (200, {}, b"")})
    api = api_for(only_peers(settings, home, thief), database)
    assert api.post("/banks", json={"name": "followed"}).status_code == 201
    assert create_list(api, f"{home.url}/list", credentials="tok-123456").status_code == 201
    # Read as home's origin by urllib.parse, connected to the thief by urllib3.
    disguised = f"http://127.0.0.1:{thief.port}\\@127.0.0.1:{home.port}/list"
    moved = api.patch("/exchanges/l", role="curator", json={"url": disguised})
    assert moved.status_code == 400
    assert moved.get_json()["error"]["code"] == "egress_refused"
    assert "backslash" in moved.get_json()["error"]["message"]
    assert create_list(api, disguised).status_code == 400
    assert sync_now(api, "l").ok
    assert thief.requests == [] and len(home.requests) == 1


def test_a_redirect_read_two_ways_is_refused_with_the_credentials_unsent(http_server):
    thief = http_server({"/list": (200, {}, b"")})
    routes: dict[str, Any] = {}
    exchange = http_server(routes)
    for location in (
        f"http://127.0.0.1:{thief.port}\\@127.0.0.1:{exchange.port}/list",
        f"http://k3y@127.0.0.1:{thief.port}/list",
    ):
        routes["/list"] = (302, {"Location": location}, b"")
        client = HttpClient(
            allowing(exchange, thief), origin_url=exchange.url, secrets=["k3y-SECRET"], retries=0
        )
        with pytest.raises(ExchangeError, match="redirected to a refused address"):
            client.request("GET", f"{exchange.url}/list", headers={"Authorization": "k3y-SECRET"})
    assert thief.requests == []


# Limits and retries ---------------------------------------------------------------------


class ScriptedPeer:
    """A peer that answers each request with the next of `answers` (status, headers, body),
    optionally sending the body slowly."""

    def __init__(self, answers: list[tuple[int, dict[str, str], bytes]], trickle: float = 0.0):
        self.answers = list(answers)
        self.seen: list[tuple[str, float]] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                peer.seen.append((self.command, time.monotonic()))
                status, headers, body = peer.answers.pop(0) if peer.answers else (500, {}, b"")
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(trickle)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def scripted():
    peers: list[ScriptedPeer] = []

    def start(*args: Any, **kwargs: Any) -> ScriptedPeer:
        peers.append(ScriptedPeer(*args, **kwargs))
        return peers[-1]

    yield start
    for peer in peers:
        peer.close()


def test_retry_after_is_honoured_and_posts_are_not_repeated_blindly(scripted):
    slept: list[float] = []
    peer = scripted([(429, {"Retry-After": "2"}, b""), (200, {}, b"{}")])
    client = HttpClient(allowing(peer), backoff=0.01, sleep=slept.append)
    assert client.get_json(f"{peer.url}/page") == {}
    assert slept == [2.0]

    # A POST that failed after it was sent may have been taken: it is not sent again.
    failing = scripted([(500, {}, b"oops")] * 4)
    with pytest.raises(ExchangeError, match="HTTP 500") as caught:
        HttpClient(allowing(failing), backoff=0.01, sleep=slept.append).request(
            "POST", f"{failing.url}/feedback", body=b"{}"
        )
    assert [method for method, _ in failing.seen] == ["POST"]
    assert "oops" not in str(caught.value)  # answers' bodies never reach error messages
    # ...but a 429 says it was not taken, and a GET is retried.
    busy = scripted([(429, {}, b""), (200, {}, b"")])
    HttpClient(allowing(busy), backoff=0.01, sleep=slept.append).request(
        "POST", f"{busy.url}/feedback", body=b"{}"
    )
    assert len(busy.seen) == 2
    # An exchange asking for an hour's pause fails this sync instead of holding it.
    patient = scripted([(503, {"Retry-After": "3600"}, b"")])
    with pytest.raises(ExchangeError, match="retry after 3600 s"):
        HttpClient(allowing(patient), sleep=slept.append).request("GET", f"{patient.url}/x")


def test_answers_are_cut_at_the_size_limit_and_the_deadline(scripted):
    big = scripted([(200, {}, b"x" * 5000)])
    with pytest.raises(ExchangeError, match="over the limit of 1,000"):
        HttpClient(allowing(big), retries=0).request("GET", f"{big.url}/list", max_bytes=1000)
    slow = scripted([(200, {}, b"y" * 200)], trickle=0.05)
    started = time.monotonic()
    with pytest.raises(EgressFailed, match="deadline"):
        allowing(slow).send("GET", f"{slow.url}/x", timeout=5, deadline=1.0, max_bytes=10**6)
    assert time.monotonic() - started < 3


def test_the_deadline_holds_against_a_peer_trickling_its_headers(trickling_peer):
    peer = trickling_peer(every=0.2)
    started = time.monotonic()
    with pytest.raises(EgressFailed, match="within the deadline"):
        allowing(peer).send("GET", f"{peer.url}/x", timeout=1.0, deadline=1.5, max_bytes=1000)
    assert time.monotonic() - started < 2.5


def test_an_oversized_list_fails_its_sync_with_a_clear_error(exchanges_api):
    api, feed = exchanges_api
    created = create_list(api, feed.url + "/list", settings={"max_bytes": 100})
    assert created.status_code == 201, created.get_json()
    report = sync_now(api, "l")
    assert not report.ok and "over the limit of 100 bytes" in report.error
    assert "over the limit of 100 bytes" in json.dumps(api.get("/exchanges/l").get_json())


@pytest.fixture
def exchanges_api(settings, database, http_server):
    feed = http_server({"/list": (200, {}, "".join(f"md5 {MD5}\n" for _ in range(20)).encode())})
    api = api_for(only_peers(settings, feed), database)
    assert api.post("/banks", json={"name": "followed"}).status_code == 201
    return api, feed


def test_xml_with_a_document_type_is_refused_wherever_it_is():
    padding = b"<!-- " + b"x" * 4000 + b" -->"
    for body in (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "boom">]><r>&e;</r>',
        b'<?xml version="1.0"?>' + padding + b'<!DOCTYPE r SYSTEM "file:///etc/passwd"><r/>',
    ):
        with pytest.raises(MalformedResponse, match="document type"):
            parse_xml(body, "test")
    assert parse_xml(b'<r xmlns="urn:x"><a>1</a></r>', "test").find("a").text == "1"


def test_connecting_to_nothing_is_a_failure_before_sending():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    policy = EgressPolicy(allowed=parse_allowed_peers(f"127.0.0.1:{port}"))
    with pytest.raises(EgressFailed) as caught:
        Egress(policy).send("POST", f"http://127.0.0.1:{port}/", timeout=2, max_bytes=10)
    assert caught.value.sent is False
