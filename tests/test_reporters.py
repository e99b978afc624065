"""Reporters: the CyberTipline client against a stand-in ISPWS on 127.0.0.1, and the
configuration of reporters through the CLI and /api/v1/reporters."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from actioners.reporters import ispws, reporter_type
from actioners.reporters.cybertip import TEST_BASE_URL, CyberTipAdapter, CyberTipConfig
from banks.exchanges.http import HttpClient
from core.errors import InvalidInput, ReportingFailed
from database import audit
from database.audit import AuditEntry
from tests.conftest import fixture_bytes, loopback_egress
from tests.ispws_server import FakeCyberTip, Injected

CONFIG = {
    "reporter_email": "reports@platform.example",
    "company_name": "Example Platform",
    "legal_url": "https://platform.example/legal",
}


@pytest.fixture
def ncmec():
    fake = FakeCyberTip()
    yield fake
    fake.close()


def client(fake: FakeCyberTip, credentials: str | None = None, **config: str) -> CyberTipAdapter:
    http = HttpClient(loopback_egress(), origin_url=fake.url, backoff=0.01, retries=1)
    settings = CyberTipConfig.parse(CONFIG | config)
    return CyberTipAdapter(settings, credentials or fake.credentials, fake.url, http)


def incident(reporter: CyberTipAdapter, **fields) -> ispws.Incident:
    return ispws.Incident(
        incident_type=ispws.CHILD_PORNOGRAPHY,
        at=fields.pop("at", datetime(2026, 12, 1, 8, 30, tzinfo=UTC)),
        reporter=reporter.company(),
        **fields,
    )


def test_a_report_goes_submit_upload_fileinfo_finish(ncmec):
    reporter = client(
        ncmec,
        contact_first_name="Ada",
        contact_email="trust@platform.example",
        internet_detail="web_page",
        web_page_url="https://platform.example/ncmec",
    )
    user = ispws.ReportedUser(
        esp_identifier="user-42",
        esp_service="Example Platform",
        screen_name="someone",
        emails=("someone@mail.example",),
        ip_events=(ispws.IpEvent("192.0.2.7", "Login", datetime(2026, 11, 30, tzinfo=UTC)),),
    )
    report_id = reporter.submit(
        incident(
            reporter,
            user=user,
            internet_detail="web_page",
            web_page_urls=("https://platform.example/ncmec",),
            additional_info="Confirmed by two reviewers.",
        )
    )
    photo = fixture_bytes("aaa-orig.jpg")
    file_id = reporter.upload(report_id, "upload.jpg", photo)
    reporter.describe_file(
        report_id,
        file_id,
        ispws.FileDescription(
            original_file_name="upload.jpg",
            industry_classification="A1",
            original_hashes=(("MD5", hashlib.md5(photo).hexdigest()),),
            upload_event=ispws.IpEvent("192.0.2.8", "Upload", datetime(2026, 12, 1, tzinfo=UTC)),
        ),
    )
    assert reporter.finish(report_id) == (file_id,)
    assert ncmec.calls() == ["submit", "upload", "fileinfo", "finish"]
    stored = ncmec.reports[report_id]
    assert stored.state == "finished"
    assert stored.files[file_id] == photo
    document = stored.document
    assert document.findtext("incidentSummary/incidentDateTime") == "2026-12-01T08:30:00.000Z"
    assert document.findtext("reporter/companyTemplate") == "Example Platform"
    assert document.findtext("reporter/contactPerson/firstName") == "Ada"
    assert document.findtext("personOrUserReported/espIdentifier") == "user-42"
    assert document.findtext("internetDetails/webPageIncident/url") == (
        "https://platform.example/ncmec"
    )
    details = stored.details[file_id]
    assert details.findtext("industryClassification") == "A1"
    assert details.find("originalFileHash").get("hashType") == "MD5"


def test_an_incident_time_is_never_in_the_future(ncmec):
    reporter = client(ncmec)
    now = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
    later = now + timedelta(minutes=5)
    document = ispws.report_document(incident(reporter, at=later), now=now)
    assert b"<incidentDateTime>2026-12-08T11:59:59.000Z</incidentDateTime>" in document
    # Sent as is, a future time is refused by NCMEC's rules (the stand-in's too).
    report_id = reporter.submit(incident(reporter, at=datetime.now(UTC) + timedelta(hours=1)))
    assert ncmec.reports[report_id].state == "open"


def test_elements_out_of_the_schemas_order_are_refused_with_4100(ncmec):
    reporter = client(ncmec)
    out_of_order = (
        b"<report><reporter><reportingPerson><email>a@b.example</email></reportingPerson>"
        b"</reporter><incidentSummary><incidentType>Child Sex Tourism</incidentType>"
        b"<incidentDateTime>2026-01-01T00:00:00.000Z</incidentDateTime></incidentSummary></report>"
    )
    with pytest.raises(ReportingFailed) as refused:
        reporter._call("POST", "submit", out_of_order, "text/xml")
    assert refused.value.response_code == 4100 and refused.value.http_status == 400
    assert "comes too late" in str(refused.value)
    assert ncmec.reports == {}


def test_a_non_zero_code_is_an_error_whatever_the_http_status(ncmec):
    reporter = client(ncmec)
    ncmec.inject("submit", Injected(status=200, code=1000))
    with pytest.raises(ReportingFailed) as failed:
        reporter.submit(incident(reporter))
    assert failed.value.response_code == 1000 and failed.value.http_status == 200
    ncmec.inject("submit", Injected(status=500))
    with pytest.raises(ReportingFailed) as broken:
        reporter.submit(incident(reporter))
    assert broken.value.http_status == 500 and broken.value.response_code is None


def test_a_finished_report_takes_nothing_more_and_an_open_one_can_be_retracted(ncmec):
    reporter = client(ncmec)
    first = reporter.submit(incident(reporter))
    reporter.finish(first)
    with pytest.raises(ReportingFailed) as finished:
        reporter.upload(first, "late.jpg", b"late")
    assert finished.value.response_code == 5102
    second = reporter.submit(incident(reporter))
    reporter.retract(second)
    assert ncmec.reports[second].state == "retracted"
    with pytest.raises(ReportingFailed) as unknown:
        reporter.finish(999)
    assert unknown.value.response_code == 5001


def test_wrong_credentials_are_a_clear_error_and_never_shown(ncmec):
    reporter = client(ncmec, credentials="esp-user:not-the-password")
    with pytest.raises(ReportingFailed) as refused:
        reporter.check()
    assert refused.value.response_code == 2000 and refused.value.http_status == 401
    assert "not-the-password" not in str(refused.value)
    assert client(ncmec).check() == "Remote User : esp-user"


def test_a_lost_reply_is_an_error_though_ncmec_took_the_call(ncmec):
    """What an exactly-once report must reckon with: the report exists at NCMEC."""
    reporter = client(ncmec)
    ncmec.inject("submit", Injected(lost=True))
    with pytest.raises(ReportingFailed, match="could not be reached"):
        reporter.submit(incident(reporter))
    assert [r.state for r in ncmec.reports.values()] == ["open"]


def test_the_cybertip_type_and_its_settings():
    kind = reporter_type("cybertip")
    assert kind is CyberTipAdapter and kind.default_base_url == TEST_BASE_URL
    assert kind.is_production("https://report.cybertip.org/ispws/")
    assert not kind.is_production(TEST_BASE_URL)
    with pytest.raises(InvalidInput) as unknown:
        reporter_type("fax")
    assert unknown.value.code == "invalid_reporter_type"
    for broken in ({"reporter_email": "nobody"}, {"legal_url": "ftp://x"}, {"extra": "1"}):
        with pytest.raises(InvalidInput) as refused:
            CyberTipConfig.parse(CONFIG | broken)
        assert refused.value.code == "invalid_reporter_config"
    with pytest.raises(InvalidInput) as missing:
        CyberTipConfig.parse({"company_name": "X"})
    assert "reporter_email" in missing.value.message
    with pytest.raises(InvalidInput):
        CyberTipAdapter.check_credentials("no-colon")
    assert json.loads(json.dumps(CyberTipConfig.parse(CONFIG).to_dict()))["company_name"]


# Configuring reporters -----------------------------------------------------------------


def config_args(**extra: str) -> list[str]:
    pairs = CONFIG | extra
    return [arg for key, value in pairs.items() for arg in ("--config", f"{key}={value}")]


def test_the_cli_adds_checks_lists_and_removes_a_reporter(hma, ncmec, database):
    default = hma("reporter", "add", "tipline", "--type", "cybertip", "--credentials", "u:p")
    assert default.exit_code != 0 and "reporter_email" in default.stderr  # settings first
    added = hma(
        "reporter", "add", "tipline", "--type", "cybertip", "--credentials", "u:p", *config_args()
    )
    assert added.exit_code == 0, added.stderr
    assert f"a test environment at {TEST_BASE_URL}" in added.stderr
    production = hma(
        *("reporter", "add", "live", "--type", "cybertip", "--credentials", "-"),
        *("--url", "https://report.cybertip.org/ispws", *config_args()),
        input="live-user:live-password\n",
    )
    assert production.exit_code == 0 and "PRODUCTION" in production.stderr
    stand_in = hma(
        *("reporter", "add", "stand-in", "--type", "cybertip", "--url", ncmec.url),
        *("--credentials", ncmec.credentials, *config_args()),
    )
    assert stand_in.exit_code == 0, stand_in.stderr
    listed = [json.loads(line) for line in hma("reporter", "list", "--json").stdout.splitlines()]
    assert [(r["name"], r["production"]) for r in listed] == [
        ("live", True),
        ("stand-in", False),
        ("tipline", False),
    ]
    checked = hma("reporter", "status", "stand-in", "--json")
    assert checked.exit_code == 0, checked.stderr
    assert json.loads(checked.stdout)["check"] == {"ok": True, "answer": "Remote User : esp-user"}
    everything = "".join(r.stdout + r.stderr for r in (added, production, stand_in, checked))
    assert "live-password" not in everything and ncmec.credentials not in everything
    assert hma("reporter", "remove", "live").exit_code == 0
    missing = hma("reporter", "status", "live")
    assert missing.exit_code != 0 and "no reporter named 'live'" in missing.stderr


def test_refused_credentials_say_so_and_exit_1(hma, ncmec):
    hma(
        *("reporter", "add", "wrong", "--type", "cybertip", "--url", ncmec.url),
        *("--credentials", "esp-user:not-it", *config_args()),
    )
    checked = hma("reporter", "status", "wrong", "--json")
    assert checked.exit_code == 1
    check = json.loads(checked.stdout)["check"]
    assert check["ok"] is False and "code 2000" in check["answer"]
    assert "not-it" not in checked.stdout + checked.stderr


def test_the_api_manages_reporters_for_curators_only(api, ncmec, database):
    body = {
        "name": "tipline",
        "type": "cybertip",
        "url": ncmec.url,
        "credentials": ncmec.credentials,
        "settings": CONFIG,
    }
    assert api.post("/reporters", role="reviewer", json=body).status_code == 403
    created = api.post("/reporters", role="curator", json=body)
    assert created.status_code == 201, created.get_json()
    shown = created.get_json()
    assert shown["url"] == ncmec.url and shown["production"] is False
    assert "credentials" not in shown and ncmec.credentials not in json.dumps(shown)
    again = api.post("/reporters", role="curator", json=body)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "reporter_exists"
    refused = api.post("/reporters", role="curator", json=body | {"name": "x", "settings": {}})
    assert refused.get_json()["error"]["code"] == "invalid_reporter_config"
    listed = api.get("/reporters", role="curator").get_json()["reporters"]
    assert [r["name"] for r in listed] == ["tipline"]
    check = api.post("/reporters/tipline/check", role="curator").get_json()
    assert check == {"ok": True, "answer": "Remote User : esp-user"}
    assert api.delete("/reporters/tipline", role="curator").status_code == 204
    assert api.get("/reporters/tipline", role="curator").status_code == 404
    with database.session() as session:
        actions = [
            (e.action, e.subject)
            for e in session.scalars(
                select(AuditEntry).where(AuditEntry.subject.like("reporter:%"))
            )
        ]
    assert actions == [
        (audit.REPORTER_ADD, "reporter:tipline"),
        (audit.REPORTER_REMOVE, "reporter:tipline"),
    ]


def test_incident_types_follow_the_classification_and_the_reporters_own_list(ncmec):
    own = (
        "csam_generative=Misleading Words or Digital Images on the Internet;"
        " grooming_inappropriate_contact=Online Enticement of Children for Sexual Acts"
    )
    reporter = client(ncmec, incident_types=own)
    assert reporter.incident_type(["csam"]) == ispws.CHILD_PORNOGRAPHY
    assert reporter.incident_type(["csam", "trafficking"]) == "Child Sex Trafficking"
    assert reporter.incident_type(["trafficking", "csam_generative"]) == (
        "Misleading Words or Digital Images on the Internet"
    )
    assert client(ncmec).incident_type(["csam_generative"]) == ispws.CHILD_PORNOGRAPHY
    for broken in ("csam=Child Porn", "no-equals", "=Child Sex Tourism"):
        with pytest.raises(InvalidInput) as refused:
            CyberTipConfig.parse(CONFIG | {"incident_types": broken})
        assert refused.value.code == "invalid_reporter_config" and "incident_types" in str(
            refused.value
        )
