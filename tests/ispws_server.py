"""A stand-in for NCMEC's CyberTipline Reporting API (ISPWS) on 127.0.0.1.

Written from the shared facts (../shared/NCMEC-CYBERTIP.md), not from any
client: HTTP Basic on every call (code 2000 with HTTP 401 otherwise), XML
whose known elements must come in the schema's order (4100 otherwise), the
incident types of the schema, no incident time in the future, per-report
state (5001 for an unknown report, 5102 once finished, 5101 once retracted),
`reportDoneResponse` listing the files. Failures can be queued per endpoint:
an HTTP status, a 2xx carrying a non-zero code, or a reply lost after the
call took effect.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qs
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from defusedxml.ElementTree import fromstring

from actioners.reporters.ispws import INCIDENT_TYPES
from tests.exchange_servers import Answer, FakeServer, Seen

#: The schema's order of the children of each element the stand-in checks.
ORDER = {
    "report": [
        "batchedReport",
        "incidentSummary",
        "internetDetails",
        "lawEnforcement",
        "reporter",
        "personOrUserReported",
        "intendedRecipient",
        "victim",
        "additionalInfo",
    ],
    "incidentSummary": [
        "incidentType",
        "platform",
        "escalateToHighPriority",
        "reportAnnotations",
        "incidentDateTime",
        "incidentDateTimeDescription",
    ],
    "reporter": [
        "reportingPerson",
        "contactPerson",
        "companyTemplate",
        "termsOfService",
        "legalURL",
    ],
    "person": ["firstName", "lastName", "phone", "email", "address", "age", "dateOfBirth"],
    "personOrUserReported": [
        "personOrUserReportedPerson",
        "vehicleDescription",
        "espIdentifier",
        "espService",
        "compromisedAccount",
        "screenName",
        "displayName",
        "profileUrl",
        "profileBio",
        "ipCaptureEvent",
        "deviceId",
        "thirdPartyUserReported",
        "priorCTReports",
        "groupIdentifier",
        "accountTemporarilyDisabled",
        "accountPermanentlyDisabled",
        "estimatedLocation",
        "allEmailsReported",
        "associatedAccount",
        "additionalInfo",
    ],
    "ipCaptureEvent": ["ipAddress", "eventName", "dateTime", "possibleProxy", "port"],
    "fileDetails": [
        "reportId",
        "fileId",
        "fileName",
        "originalFileName",
        "uploadedToEspTimestamp",
        "locationOfFile",
        "fileViewedByEsp",
        "exifViewedByEsp",
        "publiclyAvailable",
        "fileRelevance",
        "potentialMeme",
        "fileAnnotations",
        "industryClassification",
        "originalFileHash",
        "ipCaptureEvent",
        "deviceId",
        "details",
        "additionalInfo",
    ],
}
PEOPLE = ("reportingPerson", "contactPerson", "personOrUserReportedPerson")
DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'


class Invalid(Exception):
    """A submittal the schema refuses: answered with 4100."""


@dataclass
class StoredReport:
    document: Element
    state: str = "open"
    files: dict[str, bytes] = field(default_factory=dict)
    details: dict[str, Element] = field(default_factory=dict)


@dataclass(frozen=True)
class Injected:
    """What the next call of an endpoint gets instead of its answer."""

    status: int = 200
    code: int = 0
    lost: bool = False


def _in_order(parent: Element) -> None:
    allowed = ORDER["person" if parent.tag in PEOPLE else parent.tag]
    position = 0
    for child in parent:
        if child.tag not in allowed:
            raise Invalid(f"<{child.tag}> is not a child of <{parent.tag}>")
        index = allowed.index(child.tag)
        if index < position:
            raise Invalid(f"<{child.tag}> comes too late in <{parent.tag}>")
        position = index
        if child.tag in ORDER or child.tag in PEOPLE:
            _in_order(child)


def _response(code: int, description: str = "", **fields: object) -> Answer:
    body = f"<responseCode>{code}</responseCode>"
    body += f"<responseDescription>{escape(description)}</responseDescription>"
    body += "".join(f"<{key}>{value}</{key}>" for key, value in fields.items() if value is not None)
    xml = f"{DECLARATION}<reportResponse>{body}</reportResponse>"
    return 200 if code == 0 else 400, {"Content-Type": "application/xml"}, xml.encode()


class FakeCyberTip(FakeServer):
    """ISPWS at `self.url` (…/ispws), for `user`:`password`."""

    def __init__(self, user: str = "esp-user", password: str = "esp-password") -> None:
        super().__init__()
        self.url += "/ispws"
        self.credentials = f"{user}:{password}"
        self.reports: dict[int, StoredReport] = {}
        self.injected: dict[str, deque[Injected]] = defaultdict(deque)
        self._ids = itertools.count(4564654)
        self._file_ids = itertools.count(1)
        #: Endpoints whose calls take effect, then hold their reply until `release()`;
        #: and endpoints whose calls wait, before taking effect, until then.
        self.hold: set[str] = set()
        self.hold_before: set[str] = set()
        self.held: list[str] = []
        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()

    def inject(self, endpoint: str, *answers: Injected) -> None:
        self.injected[endpoint].extend(answers)

    def calls(self) -> list[str]:
        return [seen.path.rsplit("/", 1)[-1] for seen in self.requests]

    def handle(self, seen: Seen) -> Answer | None:
        endpoint = seen.path.removeprefix("/ispws/")
        expected = "Basic " + base64.b64encode(self.credentials.encode()).decode()
        if seen.headers.get("authorization") != expected:
            _, headers, body = _response(2000, "Authentication required")
            return 401, headers, body
        injected = self.injected[endpoint].popleft() if self.injected[endpoint] else None
        if injected is not None and not injected.lost:
            if injected.code:
                _, headers, body = _response(injected.code, "Injected failure")
                return injected.status, headers, body
            return injected.status, {}, b"<html>upstream trouble</html>"
        if endpoint in self.hold_before:
            self.held.append(endpoint)
            self._released.wait(60)
        try:
            answer = self._serve(endpoint, seen)
        except Invalid as exc:
            answer = _response(4100, f"Validation failed: {exc}")
        if endpoint in self.hold:
            self.held.append(endpoint)
            self._released.wait(60)
        return None if injected is not None else answer

    def _serve(self, endpoint: str, seen: Seen) -> Answer:
        if endpoint == "status" and seen.method == "GET":
            return _response(0, f"Remote User : {self.credentials.split(':')[0]}")
        if seen.method != "POST":
            return 404, {}, b"not found"
        if endpoint == "submit":
            return self._submit(seen.body)
        fields = _form(seen)
        report_id = int(fields.get("id", b"0") or 0) if endpoint != "fileinfo" else 0
        if endpoint == "fileinfo":
            details = fromstring(seen.body)
            if details.tag != "fileDetails":
                raise Invalid("a file's details are a <fileDetails>")
            _in_order(details)
            report_id = int(details.findtext("reportId") or 0)
        report = self.reports.get(report_id)
        if report is None:
            return _response(5001, "Report does not exist")
        if report.state == "finished":
            return _response(5102, "Report already finished")
        if report.state == "retracted":
            return _response(5101, "Report already retracted")
        if endpoint == "upload":
            file_id = f"{next(self._file_ids):032x}"
            report.files[file_id] = fields["file"]
            md5 = hashlib.md5(fields["file"]).hexdigest()
            return _response(0, "Success", reportId=report_id, fileId=file_id, hash=md5)
        if endpoint == "fileinfo":
            file_id = details.findtext("fileId") or ""
            if file_id not in report.files:
                return _response(5002, "File does not exist")
            report.details[file_id] = details
            return _response(0, "Success", reportId=report_id)
        if endpoint == "finish":
            report.state = "finished"
            files = "".join(f"<fileId>{file_id}</fileId>" for file_id in report.files)
            xml = (
                f"{DECLARATION}<reportDoneResponse>"
                f"<responseCode>0</responseCode><reportId>{report_id}</reportId>"
                f"<files>{files}</files></reportDoneResponse>"
            )
            return 200, {"Content-Type": "application/xml"}, xml.encode()
        if endpoint == "retract":
            report.state = "retracted"
            return _response(0, "Success", reportId=report_id)
        return 404, {}, b"not found"

    def _submit(self, body: bytes) -> Answer:
        try:
            document = fromstring(body)
        except Exception:
            return _response(4110, "Malformed XML submittal")
        if document.tag != "report":
            raise Invalid("a report is a <report>")
        _in_order(document)
        summary = document.find("incidentSummary")
        if summary is None or document.find("reporter/reportingPerson/email") is None:
            raise Invalid("a report needs its incidentSummary and its reporter's email")
        if summary.findtext("incidentType") not in INCIDENT_TYPES:
            raise Invalid("the incident type is not one of the schema's")
        when = datetime.fromisoformat(
            (summary.findtext("incidentDateTime") or "").replace("Z", "+00:00")
        )
        if when > datetime.now(UTC):
            raise Invalid("the incident is in the future")
        report_id = next(self._ids)
        self.reports[report_id] = StoredReport(document)
        return _response(0, "Success", reportId=report_id)


def _form(seen: Seen) -> dict[str, bytes]:
    """The fields of a multipart or urlencoded form."""
    kind = seen.headers.get("content-type", "")
    if kind.startswith("application/x-www-form-urlencoded"):
        return {k: v[-1].encode() for k, v in parse_qs(seen.body.decode()).items()}
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {kind}\r\n\r\n".encode() + seen.body
    )
    return {
        part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
        for part in message.iter_parts()
    }
