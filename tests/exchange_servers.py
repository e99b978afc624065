"""Fake exchanges on 127.0.0.1 speaking the documented wire formats.

Each fake holds its records in memory, serves them in pages the way the real
exchange does (paging links, tombstones, checkpoints), can be told to answer
a page with garbage or to answer slowly, and records every request it gets,
feedback included. They are written from the formats, not from any client.
"""

from __future__ import annotations

import json
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class FakeServer:
    """A threaded HTTP server whose answers come from `handle(request) -> Answer`."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.delay = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    self.command,
                    parts.path,
                    {k: v[-1] for k, v in parse_qs(parts.query).items()},
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                fake.requests.append(seen)
                if fake.delay:
                    time.sleep(fake.delay)
                answer = fake.handle(seen)
                if answer is None:  # done, but the reply is lost: the connection just ends
                    self.close_connection = True
                    return
                status, headers, body = answer
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, seen: Seen) -> Answer | None:
        """The answer to `seen`; None: the request is taken but its reply is lost."""
        return 404, {}, b"not found"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _json(payload: Any, status: int = 200) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


GARBAGE: Answer = (200, {"Content-Type": "application/json"}, b'{"data": [ {"truncat')


# ThreatExchange ---------------------------------------------------------------------


@dataclass
class TEUpdate:
    type: str
    indicator: str
    last_updated: int
    statuses: list[tuple[str, str]] = field(default_factory=lambda: [("1111", "MALICIOUS")])
    tags: list[str] = field(default_factory=list)
    should_delete: bool = False
    no_descriptors: bool = False


class FakeThreatExchange(FakeServer):
    """`/v9.0/{pg}/threat_updates/` in pages, and reactions on descriptors."""

    def __init__(
        self, privacy_group: str = "303", token: str = "12345678|s3cr3ts3cr3ts3cr3ts3cr3t"
    ):
        self.privacy_group = privacy_group
        self.token = token
        self.updates: list[TEUpdate] = []
        self.page_size_cap = 1000
        self.garbage_pages: set[int] = set()
        self.reactions: list[tuple[str, str]] = []
        super().__init__()

    def handle(self, seen: Seen) -> Answer:
        if seen.query.get("access_token") != self.token:
            return _json({"error": {"message": "Invalid OAuth access token"}}, 400)
        if seen.method == "POST":
            descriptor = seen.path.strip("/").split("/")[-1]
            self.reactions.append((descriptor, seen.query.get("reactions", "")))
            return _json({"success": True})
        if seen.path != f"/v9.0/{self.privacy_group}/threat_updates/":
            return 404, {}, b""
        start = int(seen.query.get("start_time") or 0)
        limit = min(int(seen.query.get("limit", 100)), self.page_size_cap)
        offset = int(seen.query.get("after", 0))
        ordered = sorted(
            (u for u in self.updates if u.last_updated >= start), key=lambda u: u.last_updated
        )
        page_number = offset // limit
        if page_number in self.garbage_pages:
            self.garbage_pages.discard(page_number)  # broken once, as a flaky page would be
            return GARBAGE
        page = ordered[offset : offset + limit]
        body: dict[str, Any] = {
            "data": [self._json(u) for u in page],
            "paging": {"cursors": {"before": "b", "after": "a"}},
        }
        if offset + limit < len(ordered):
            query = dict(seen.query) | {"after": str(offset + limit)}
            body["paging"]["next"] = f"{self.url}{seen.path}?{urlencode(query)}"
        return _json(body)

    def _json(self, update: TEUpdate) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": str(abs(hash(update.indicator)) % 10**15),
            "indicator": update.indicator,
            "type": update.type,
            "last_updated": update.last_updated,
            "should_delete": update.should_delete,
        }
        if not update.no_descriptors:
            out["descriptors"] = {
                "data": [
                    {
                        "id": f"{owner}{i}",
                        "owner": {"id": owner},
                        "status": status,
                        "tags": {"data": [{"id": "9", "text": t} for t in update.tags]},
                        "reactions": [{"key": "SAW_THIS_TOO", "value": "777,888"}],
                    }
                    for i, (owner, status) in enumerate(update.statuses)
                ]
            }
        return out


# NCMEC ----------------------------------------------------------------------------------

NS = "https://hashsharing.ncmec.org/hashsharing/v2"


@dataclass
class NCMECEntry:
    member: str
    id: str
    timestamp: int
    media: str = "image"
    fingerprints: dict[str, str] = field(default_factory=dict)
    classification: str | None = "A1"
    deleted: bool = False


class FakeNCMEC(FakeServer):
    """`/hashsharing/v2/entries` windows in XML pages, statuses and feedback."""

    prefix = "/hashsharing"

    def __init__(self, user: str = "esp", password: str = "pw") -> None:
        import base64

        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.entries: list[NCMECEntry] = []
        self.page_size = 3
        self.garbage_windows: set[str] = set()
        self.feedback: list[tuple[str, bytes]] = []
        super().__init__()

    def handle(self, seen: Seen) -> Answer:
        if seen.headers.get("authorization") != self.auth:
            return 401, {}, b"<error>unauthorized</error>"
        path = seen.path.removeprefix(self.prefix)
        if seen.method == "PUT" and path.endswith("/feedback"):
            self.feedback.append((path, seen.body))
            return (
                200,
                {"Content-Type": "application/xml"},
                f'<submissionResult xmlns="{NS}"/>'.encode(),
            )
        if path.startswith("/v2/feedback/") and path.endswith("/reasons"):
            body = (
                f'<availableFeedbackReasons xmlns="{NS}"><reason guid="0000-reason"'
                ' name="Not CSAM" type="Md5"/></availableFeedbackReasons>'
            )
            return 200, {}, body.encode()
        if path != "/v2/entries":
            return 404, {}, b""
        begin, until = _seconds(seen.query["from"]), _seconds(seen.query["to"])
        if seen.query["from"] in self.garbage_windows:
            self.garbage_windows.discard(seen.query["from"])
            return 200, {}, b"<queryResult><images><ima"
        start = int(seen.query.get("start", 0))
        inside = [e for e in self.entries if begin <= e.timestamp < until]
        inside.sort(key=lambda e: e.id, reverse=True)  # deliberately not in time order
        page = inside[start : start + self.page_size]
        root = ElementTree.Element("queryResult", xmlns=NS)
        for media in ("image", "video"):
            entries = [e for e in page if e.media == media]
            if not entries:
                continue
            section = ElementTree.SubElement(root, media + "s", count=str(len(entries)))
            for entry in entries:
                node = ElementTree.SubElement(
                    section, ("deleted" + media.title()) if entry.deleted else media
                )
                ElementTree.SubElement(node, "member", id=entry.member).text = "Member"
                ElementTree.SubElement(node, "timestamp").text = _iso(entry.timestamp)
                ElementTree.SubElement(node, "id").text = entry.id
                if entry.deleted:
                    continue
                if entry.classification:
                    ElementTree.SubElement(node, "classification").text = entry.classification
                prints = ElementTree.SubElement(node, "fingerprints")
                for kind, value in entry.fingerprints.items():
                    ElementTree.SubElement(prints, kind).text = value
        if start + self.page_size < len(inside):
            paging = ElementTree.SubElement(root, "paging")
            query = {
                "from": seen.query["from"],
                "to": seen.query["to"],
                "start": start + self.page_size,
                "size": self.page_size,
            }
            ElementTree.SubElement(paging, "next").text = f"/v2/entries?{urlencode(query)}"
        return 200, {"Content-Type": "application/xml"}, ElementTree.tostring(root)


def _seconds(text: str) -> int:
    return int(datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp())


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# StopNCII -----------------------------------------------------------------------------------


@dataclass
class NCIIRecord:
    signal_type: str
    value: str
    modified: int
    status: str = "Active"
    feedback_tags: list[str] = field(default_factory=list)


class FakeStopNCII(FakeServer):
    """`/v1/FetchHashes` with page tokens, and `/v1/SubmitFeedback`."""

    def __init__(
        self,
        subscription: str = "sub-key",
        fetch: str = "fetch-key",
        feedback: str = "feedback-key",
    ) -> None:
        self.keys = {"subscription": subscription, "fetch": fetch, "feedback": feedback}
        self.records: list[NCIIRecord] = []
        self.garbage_starts: set[int] = set()
        self.submitted: list[dict[str, Any]] = []
        super().__init__()

    def handle(self, seen: Seen) -> Answer:
        if seen.headers.get("ocp-apim-subscription-key") != self.keys["subscription"]:
            return _json({"message": "no subscription"}, 401)
        if seen.path == "/v1/SubmitFeedback" and seen.method == "POST":
            if seen.headers.get("x-functions-key") != self.keys["feedback"]:
                return _json({"message": "wrong function key"}, 401)
            self.submitted.append(json.loads(seen.body))
            return _json({"status": "ok"})
        if seen.path != "/v1/FetchHashes":
            return 404, {}, b""
        if seen.headers.get("x-functions-key") != self.keys["fetch"]:
            return _json({"message": "wrong function key"}, 401)
        start = int(seen.query["startTimestamp"])
        if start in self.garbage_starts:
            self.garbage_starts.discard(start)
            return GARBAGE
        size = int(seen.query["pageSize"])
        offset = int(seen.query.get("nextPageToken") or 0)
        ordered = sorted((r for r in self.records if r.modified >= start), key=lambda r: r.modified)
        page = ordered[offset : offset + size]
        more = offset + size < len(ordered)
        return _json(
            {
                "count": len(page),
                "nextPageToken": str(offset + size) if more else None,
                "nextSetTimestamp": (max(r.modified for r in ordered) + 1) if ordered else start,
                "hasMoreRecords": more,
                "hashRecords": [
                    {
                        "lastModtimestamp": r.modified,
                        "signalType": r.signal_type,
                        "hashValue": r.value,
                        "hashStatus": r.status,
                        "caseNumbers": {"c0ffee00-0000-0000-0000-000000000000": r.status},
                        "CSPFeedbacks": [
                            {
                                "source": "Platform",
                                "feedbackValue": "Blocked",
                                "tags": r.feedback_tags,
                            }
                        ]
                        if r.feedback_tags
                        else [],
                    }
                    for r in page
                ],
            }
        )


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)
