"""The documents of NCMEC's CyberTipline Reporting API ("ISPWS"), and its answers.

The schema is a sequence throughout: NCMEC refuses children out of order
(response code 4100), so each builder below appends elements in the schema's
order and leaves out what it has no value for. Values are text; the
documents carry no XML declaration and no namespace. Answers are XML whatever
the HTTP status, read with defusedxml (an answer is untrusted input).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from xml.etree.ElementTree import Element, SubElement, tostring

from banks.exchanges.http import parse_xml
from core.errors import MalformedResponse

#: `incidentSummary/incidentType`: the schema's enumeration, spelled as it spells it.
CHILD_PORNOGRAPHY = "Child Pornography (possession, manufacture, and distribution)"
INCIDENT_TYPES = (
    CHILD_PORNOGRAPHY,
    "Child Sex Trafficking",
    "Child Sex Tourism",
    "Child Sexual Molestation",
    "Misleading Domain Name",
    "Misleading Words or Digital Images on the Internet",
    "Online Enticement of Children for Sexual Acts",
    "Unsolicited Obscene Material Sent to a Child",
)
#: `fileDetails/industryClassification`: the industry scale (A prepubescent, B pubescent;
#: 1 a sex act, 2 a lascivious exhibition).
INDUSTRY_CLASSES = ("A1", "A2", "B1", "B2")
#: `ipCaptureEvent/eventName`.
IP_EVENTS = ("Login", "Registration", "Purchase", "Upload", "Other", "Unknown")
#: The `internetDetails` element of each kind of place an incident happened.
INTERNET_DETAILS = {
    "web_page": "webPageIncident",
    "email": "emailIncident",
    "newsgroup": "newsgroupIncident",
    "chat_im": "chatImIncident",
    "online_gaming": "onlineGamingIncident",
    "cell_phone": "cellPhoneIncident",
    "non_internet": "nonInternetIncident",
    "peer_to_peer": "peer2peerIncident",
}
#: NCMEC refuses an incident time in the future; a clock a little ahead must not matter.
FUTURE_MARGIN = timedelta(seconds=1)


@dataclass(frozen=True)
class IpEvent:
    ip_address: str
    event_name: str = "Unknown"
    at: datetime | None = None


@dataclass(frozen=True)
class Person:
    """A person as the schema writes one (contact persons leave out age and birth date)."""

    first_name: str = ""
    last_name: str = ""
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReportedUser:
    """`personOrUserReported`: the platform's account behind the reported content."""

    esp_identifier: str = ""
    esp_service: str = ""
    screen_name: str = ""
    emails: tuple[str, ...] = ()
    ip_events: tuple[IpEvent, ...] = ()


@dataclass(frozen=True)
class ReportingCompany:
    """`reporter`: who reports (the deployment's reporter configuration)."""

    reporting_email: str
    company_template: str
    legal_url: str
    contact: Person | None = None
    terms_of_service: str = ""


@dataclass(frozen=True)
class Incident:
    """What one report says: `<report>` without its files."""

    incident_type: str
    at: datetime
    reporter: ReportingCompany
    user: ReportedUser | None = None
    internet_detail: str = ""
    web_page_urls: tuple[str, ...] = ()
    additional_info: str = ""


@dataclass(frozen=True)
class FileDescription:
    """`fileDetails` of one uploaded file."""

    original_file_name: str = ""
    location_of_file: str = ""
    viewed_by_esp: bool = True
    industry_classification: str = ""
    #: (hash type, value): MD5 and SHA-256 of the file as uploaded to the platform.
    original_hashes: tuple[tuple[str, str], ...] = ()
    upload_event: IpEvent | None = None
    additional_info: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answer:
    """`reportResponse` or `reportDoneResponse`."""

    response_code: int
    description: str = ""
    report_id: int | None = None
    file_id: str = ""
    md5: str = ""
    file_ids: tuple[str, ...] = field(default_factory=tuple)


def incident_time(moment: datetime, now: datetime | None = None) -> str:
    """ISO 8601 in UTC with milliseconds, never later than a second before `now`."""
    latest = (now or datetime.now(UTC)) - FUTURE_MARGIN
    return _time(min(moment.astimezone(UTC), latest))


def _time(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def _text(parent: Element, tag: str, value: str | None) -> None:
    if value:
        SubElement(parent, tag).text = value


def _person(parent: Element, tag: str, person: Person) -> None:
    node = SubElement(parent, tag)
    _text(node, "firstName", person.first_name)
    _text(node, "lastName", person.last_name)
    for phone in person.phones:
        _text(node, "phone", phone)
    for email in person.emails:
        _text(node, "email", email)


def _ip_event(parent: Element, event: IpEvent) -> None:
    node = SubElement(parent, "ipCaptureEvent")
    _text(node, "ipAddress", event.ip_address)
    _text(node, "eventName", event.event_name)
    if event.at is not None:
        _text(node, "dateTime", _time(event.at))


def report_document(incident: Incident, now: datetime | None = None) -> bytes:
    """The `<report>` for `/submit`."""
    root = Element("report")
    summary = SubElement(root, "incidentSummary")
    _text(summary, "incidentType", incident.incident_type)
    _text(summary, "incidentDateTime", incident_time(incident.at, now))
    if incident.internet_detail:
        details = SubElement(root, "internetDetails")
        kind = SubElement(details, INTERNET_DETAILS[incident.internet_detail])
        if incident.internet_detail == "web_page":
            for url in incident.web_page_urls:
                _text(kind, "url", url)
    company = incident.reporter
    reporter = SubElement(root, "reporter")
    _person(reporter, "reportingPerson", Person(emails=(company.reporting_email,)))
    if company.contact is not None:
        _person(reporter, "contactPerson", company.contact)
    _text(reporter, "companyTemplate", company.company_template)
    _text(reporter, "termsOfService", company.terms_of_service)
    _text(reporter, "legalURL", company.legal_url)
    user = incident.user
    if user is not None:
        reported = SubElement(root, "personOrUserReported")
        if user.emails:
            _person(reported, "personOrUserReportedPerson", Person(emails=user.emails))
        _text(reported, "espIdentifier", user.esp_identifier)
        _text(reported, "espService", user.esp_service)
        _text(reported, "screenName", user.screen_name)
        for event in user.ip_events:
            _ip_event(reported, event)
    _text(root, "additionalInfo", incident.additional_info)
    return _serialized(root)


def file_details_document(report_id: int, file_id: str, file: FileDescription) -> bytes:
    """The `<fileDetails>` for `/fileinfo`."""
    root = Element("fileDetails")
    _text(root, "reportId", str(report_id))
    _text(root, "fileId", file_id)
    _text(root, "originalFileName", file.original_file_name)
    _text(root, "locationOfFile", file.location_of_file)
    _text(root, "fileViewedByEsp", "true" if file.viewed_by_esp else "false")
    _text(root, "industryClassification", file.industry_classification)
    for hash_type, value in file.original_hashes:
        SubElement(root, "originalFileHash", hashType=hash_type).text = value
    if file.upload_event is not None:
        _ip_event(root, file.upload_event)
    for text in file.additional_info:
        _text(root, "additionalInfo", text)
    return _serialized(root)


def _serialized(root: Element) -> bytes:
    """The document as UTF-8 bytes, without an XML declaration (as NCMEC's clients send)."""
    document: bytes = tostring(root, encoding="utf-8", xml_declaration=False)
    return document


def parse_answer(body: bytes, where: str) -> Answer:
    """An answer's fields; MalformedResponse when it is no answer of the API."""
    root = parse_xml(body, where)
    if root.tag not in ("reportResponse", "reportDoneResponse"):
        raise MalformedResponse(f"{where} answered a <{root.tag}>, not a report response")
    code = (root.findtext("responseCode") or "").strip()
    if not code.lstrip("-").isdigit():
        raise MalformedResponse(f"{where} answered no response code")
    report_id = (root.findtext("reportId") or "").strip()
    files = root.find("files")
    file_ids: Sequence[Element] = files.findall("fileId") if files is not None else ()
    return Answer(
        response_code=int(code),
        description=(root.findtext("responseDescription") or "").strip(),
        report_id=int(report_id) if report_id.isdigit() else None,
        file_id=(root.findtext("fileId") or "").strip(),
        md5=(root.findtext("hash") or "").strip().lower(),
        file_ids=tuple((f.text or "").strip() for f in file_ids),
    )
