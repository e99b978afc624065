"""`cybertip`: NCMEC's CyberTipline, through its Reporting API (ISPWS).

One report takes `/submit` (the `<report>`; NCMEC answers its report id),
then per file `/upload` (multipart `id` and `file`; NCMEC answers a file id
and the MD5 it received) and `/fileinfo` (the file's `<fileDetails>`), then
`/finish`. `/retract` cancels a report not yet finished. Every call sends
HTTP Basic credentials; every answer is XML with a `responseCode`, and
anything but 0 is an error whatever the HTTP status.

This is NCMEC's reporting API, not its hash sharing API (which the `ncmec`
exchange adapter reads): the two have different addresses and credentials.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal

from pydantic import Field, field_validator
from urllib3 import encode_multipart_formdata

from actioners.reporters import ispws
from actioners.reporters.base import ReporterAdapter, ReporterConfig
from core.errors import ExchangeError, InvalidInput, MalformedResponse, ReportingFailed

TEST_BASE_URL = "https://exttest.cybertip.org/ispws"
PRODUCTION_BASE_URL = "https://report.cybertip.org/ispws"
#: Longest free text the reporter's settings may hold (terms of service).
MAX_TEXT = 3000
#: The incident type of a classification, by the first of these tags it holds; a
#: classification with none of them reports child pornography, the schema's first type.
DEFAULT_INCIDENT_TYPES = {
    "trafficking": "Child Sex Trafficking",
    "contact_offense": "Child Sexual Molestation",
    "grooming_sexual": "Online Enticement of Children for Sexual Acts",
    "sextortion": "Online Enticement of Children for Sexual Acts",
}


class CyberTipConfig(ReporterConfig):
    """Who reports: NCMEC's `reporter` block, and where incidents happen."""

    #: `reportingPerson/email`: where NCMEC writes about the reports.
    reporter_email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    #: `companyTemplate` and `espService`: the platform's name in the reports.
    company_name: str = Field(min_length=1, max_length=200)
    #: `legalURL`: where law enforcement learns how to serve legal process.
    legal_url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://\S+$")
    contact_first_name: str = ""
    contact_last_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""
    terms_of_service: str = Field(default="", max_length=MAX_TEXT)
    #: `internetDetails`: the kind of place the platform's incidents happen.
    internet_detail: Literal[
        "",
        "web_page",
        "email",
        "newsgroup",
        "chat_im",
        "online_gaming",
        "cell_phone",
        "non_internet",
        "peer_to_peer",
    ] = ""
    #: For `web_page`: the page NCMEC is pointed to (no whitespace or control characters).
    web_page_url: str = Field(default="", max_length=2048, pattern=r"^(https?://\S+)?$")
    #: Incident types by taxonomy tag, `tag=Type;tag=Type` (types as NCMEC's schema spells
    #: them), tried in this order before `DEFAULT_INCIDENT_TYPES`.
    incident_types: str = ""

    @field_validator("incident_types")
    @classmethod
    def _known_types(cls, value: str) -> str:
        incident_types_of(value)
        return value


def incident_types_of(text: str) -> dict[str, str]:
    """`tag=Type;tag=Type` as a mapping; ValueError naming what is wrong."""
    found: dict[str, str] = {}
    for item in (part.strip() for part in text.split(";")):
        if not item:
            continue
        tag, equals, kind = (piece.strip() for piece in item.partition("="))
        if not (equals and tag):
            raise ValueError(f"incident_types: {item!r} is not tag=Type")
        if kind not in ispws.INCIDENT_TYPES:
            raise ValueError(
                f"incident_types: {kind!r} is not an incident type of NCMEC's schema"
                f" ({'; '.join(ispws.INCIDENT_TYPES)})"
            )
        found[tag] = kind
    return found


class CyberTipAdapter(ReporterAdapter):
    type_name = "cybertip"
    config_type = CyberTipConfig
    default_base_url = TEST_BASE_URL
    production_base_urls = (PRODUCTION_BASE_URL,)

    config: CyberTipConfig

    @classmethod
    def check_credentials(cls, credentials: str) -> None:
        user, colon, password = credentials.partition(":")
        if not (user and colon and password):
            raise InvalidInput(
                "CyberTipline credentials are USER:PASSWORD, as NCMEC issued them",
                code="invalid_credentials",
            )

    def incident_type(self, classification: Sequence[str]) -> str:
        """The incident type of a confirmation classified with these tags."""
        own = incident_types_of(self.config.incident_types)
        for tag, kind in [*own.items(), *DEFAULT_INCIDENT_TYPES.items()]:
            if tag in classification:
                return kind
        return ispws.CHILD_PORNOGRAPHY

    def company(self) -> ispws.ReportingCompany:
        """The `reporter` block every report of this reporter carries."""
        config = self.config
        names = (config.contact_first_name, config.contact_last_name)
        contact = None
        if any((*names, config.contact_phone, config.contact_email)):
            contact = ispws.Person(
                *names,
                phones=(config.contact_phone,) if config.contact_phone else (),
                emails=(config.contact_email,) if config.contact_email else (),
            )
        return ispws.ReportingCompany(
            reporting_email=config.reporter_email,
            company_template=config.company_name,
            legal_url=config.legal_url,
            contact=contact,
            terms_of_service=config.terms_of_service,
        )

    # The calls -------------------------------------------------------------------------

    def check(self) -> str:
        return self._call("GET", "status").description or "credentials accepted"

    def submit(self, incident: ispws.Incident) -> int:
        """Open a report; its NCMEC report id."""
        answer = self._call("POST", "submit", ispws.report_document(incident), "text/xml")
        if answer.report_id is None:
            raise ReportingFailed("NCMEC opened a report but answered no report id")
        return answer.report_id

    def upload(self, report_id: int, file_name: str, data: bytes) -> str:
        """Add a file to an open report; its NCMEC file id. The MD5 NCMEC received must
        be the file's, or the upload is refused as damaged."""
        body, content_type = encode_multipart_formdata(
            [("id", str(report_id)), ("file", (file_name, data, "application/octet-stream"))]
        )
        answer = self._call("POST", "upload", body, content_type)
        sent = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if not answer.file_id:
            raise ReportingFailed(f"NCMEC took a file of report {report_id} but named no file id")
        if answer.md5 and answer.md5 != sent:
            raise ReportingFailed(
                f"NCMEC received file {answer.file_id} of report {report_id} with MD5"
                f" {answer.md5}, not the {sent} sent"
            )
        return answer.file_id

    def describe_file(
        self, report_id: int, file_id: str, description: ispws.FileDescription
    ) -> None:
        document = ispws.file_details_document(report_id, file_id, description)
        self._call("POST", "fileinfo", document, "text/xml")

    def finish(self, report_id: int) -> tuple[str, ...]:
        """Close an open report: NCMEC has it from now on. The file ids it holds."""
        return self._call("POST", "finish", *self._form(report_id)).file_ids

    def retract(self, report_id: int) -> None:
        """Cancel a report that is not finished."""
        self._call("POST", "retract", *self._form(report_id))

    @staticmethod
    def _form(report_id: int) -> tuple[bytes, str]:
        return encode_multipart_formdata([("id", str(report_id))])

    def _call(
        self, method: str, path: str, body: bytes | None = None, content_type: str = ""
    ) -> ispws.Answer:
        user, _, password = self.credentials.partition(":")
        url = f"{self.base_url}/{path}"
        headers = {"Content-Type": content_type} if content_type else {}
        try:
            response = self.http.request(
                method, url, headers=headers, body=body, auth=(user, password), any_status=True
            )
        except ExchangeError as exc:
            raise ReportingFailed(f"NCMEC's /{path} could not be reached: {exc}") from None
        try:
            answer = ispws.parse_answer(response.body, f"NCMEC's /{path}")
        except MalformedResponse as exc:
            raise ReportingFailed(
                f"{exc} (HTTP {response.status})", http_status=response.status
            ) from None
        if answer.response_code != 0 or not 200 <= response.status < 300:
            said = f": {answer.description}" if answer.description else ""
            raise ReportingFailed(
                f"NCMEC's /{path} answered code {answer.response_code}{said}"
                f" (HTTP {response.status})",
                response_code=answer.response_code or None,
                http_status=response.status,
            )
        return answer
