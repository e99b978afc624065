"""Filing a report a committed step at a time: exactly one finished report per case,
whatever fails or stops, against the stand-in ISPWS on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from accounts.users import create_user
from actioners import cases, media, metrics, reporter_admin, reporting, review
from actioners.models import Case, CaseOriginal, Report, Reporter
from actioners.reporters import ispws
from actioners.review import ReviewPolicy
from banks import store
from banks.taxonomy import Taxonomy
from core.names import ReportState
from hashers import Signal
from hma.secrets import SecretBox
from tests.conftest import api_for, fixture_bytes, loopback_egress
from tests.ispws_server import FakeCyberTip, Injected
from tests.test_reporters import CONFIG, client
from tests.test_review import hit, make_case

PHOTO = "aaa-orig.jpg"


@pytest.fixture
def ncmec():
    fake = FakeCyberTip()
    yield fake
    fake.close()


def filing(reporter) -> reporting.Filing:
    data = fixture_bytes(PHOTO)
    description = ispws.FileDescription(
        original_file_name="upload.jpg",
        industry_classification="A1",
        original_hashes=(("MD5", hashlib.md5(data).hexdigest()),),
    )
    incident = ispws.Incident(
        incident_type=ispws.CHILD_PORNOGRAPHY,
        at=datetime(2026, 12, 1, tzinfo=UTC),
        reporter=reporter.company(),
        user=ispws.ReportedUser(esp_identifier="user-1", esp_service="Example Platform"),
    )
    return reporting.Filing(incident, (reporting.ReportFile("upload.jpg", data, description),))


def queued_report(database, ref: str = "upload-1") -> int:
    case_id = make_case(database, ref)
    with database.session() as session:
        reporter = Reporter(
            name=f"tipline-{ref}", type="cybertip", base_url="x", settings={}, credentials="x"
        )
        session.add(reporter)
        session.flush()
        report = Report(case_id=case_id, reporter_id=reporter.id)
        session.add(report)
        session.flush()
        return report.id


def stored(database, report_id: int) -> Report:
    with database.session() as session:
        return session.get_one(Report, report_id)


def finished_at_ncmec(fake: FakeCyberTip) -> list[int]:
    return [rid for rid, report in fake.reports.items() if report.state == "finished"]


def test_a_report_is_filed_once_and_its_file_is_the_upload(database, ncmec):
    service = client(ncmec)
    report_id = queued_report(database)
    assert reporting.advance(database.sessions, report_id, service, filing(service)) == "finished"
    report = stored(database, report_id)
    assert report.state == ReportState.FINISHED and report.step is None
    assert finished_at_ncmec(ncmec) == [report.remote_id]
    [(file_id, data)] = ncmec.reports[report.remote_id].files.items()
    assert report.files == [{"file_id": file_id, "described": True}]
    assert hashlib.md5(data).hexdigest() == hashlib.md5(fixture_bytes(PHOTO)).hexdigest()
    # Advancing a finished report does nothing.
    calls = len(ncmec.requests)
    assert reporting.advance(database.sessions, report_id, service, filing(service)) == "finished"
    assert len(ncmec.requests) == calls


def test_a_failed_upload_is_retried_in_a_new_report_and_the_open_one_retracted(database, ncmec):
    service = client(ncmec)
    report_id = queued_report(database)
    ncmec.inject("upload", Injected(status=500))
    assert reporting.advance(database.sessions, report_id, service, filing(service)) == "queued"
    failed = stored(database, report_id)
    assert failed.attempts == 1 and "HTTP 500" in failed.last_error
    assert failed.step == "upload:0" and failed.next_attempt_at > datetime.now(UTC)
    first = failed.remote_id
    assert reporting.advance(database.sessions, report_id, service, filing(service)) == "finished"
    report = stored(database, report_id)
    assert report.retracted_ids == [first] and ncmec.reports[first].state == "retracted"
    assert finished_at_ncmec(ncmec) == [report.remote_id] and report.remote_id != first
    assert len(ncmec.reports[report.remote_id].files) == 1


def test_a_lost_finish_reply_ends_in_one_finished_report(database, ncmec):
    service = client(ncmec)
    report_id = queued_report(database)
    ncmec.inject("finish", Injected(lost=True))
    assert reporting.advance(database.sessions, report_id, service, filing(service)) == "queued"
    assert stored(database, report_id).step == "finish"
    assert reporting.advance(database.sessions, report_id, service, filing(service)) == "finished"
    assert finished_at_ncmec(ncmec) == [stored(database, report_id).remote_id]
    assert len(ncmec.reports) == 1


def test_refused_credentials_are_recorded_and_retried_later(database, ncmec):
    wrong = client(ncmec, credentials="esp-user:wrong")
    report_id = queued_report(database)
    assert reporting.advance(database.sessions, report_id, wrong, filing(wrong)) == "queued"
    report = stored(database, report_id)
    assert "code 2000" in report.last_error and "wrong" not in report.last_error
    assert report.remote_id is None and ncmec.reports == {}
    right = client(ncmec)
    assert reporting.advance(database.sessions, report_id, right, filing(right)) == "finished"


def test_after_its_attempts_a_report_fails_for_a_person_to_look_at(database, ncmec):
    service = client(ncmec)
    report_id = queued_report(database)
    ncmec.inject("submit", *[Injected(status=200, code=1000)] * reporting.MAX_ATTEMPTS)
    states = [
        reporting.advance(database.sessions, report_id, service, filing(service))
        for _ in range(reporting.MAX_ATTEMPTS)
    ]
    assert states == ["queued"] * (reporting.MAX_ATTEMPTS - 1) + ["failed"]
    assert reporting.advance(database.sessions, report_id, service, filing(service)) == "failed"
    assert ncmec.reports == {}


CHILD = """
import sys
from types import SimpleNamespace
from tests.test_reporting import filing
from tests.test_reporters import client
from actioners import reporting
from hma.db import Database

database_url, report_id, url, credentials = sys.argv[1:5]
service = client(SimpleNamespace(url=url, credentials=credentials))
reporting.advance(Database(database_url).sessions, int(report_id), service, filing(service))
"""


def test_a_process_killed_mid_upload_resumes_without_a_second_report(database, ncmec):
    """kill -9 while NCMEC holds the upload: the open report is retracted, a new one is
    filed, and NCMEC ends with exactly one finished report."""
    report_id = queued_report(database)
    ncmec.hold = {"upload"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    arguments = [database.url, str(report_id), ncmec.url, ncmec.credentials]
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), *arguments],
        cwd=root,
        env={**os.environ, "PYTHONPATH": root},
    )
    try:
        deadline = time.monotonic() + 60
        while not ncmec.held and time.monotonic() < deadline:
            assert child.poll() is None, "the child ended before its upload"
            time.sleep(0.02)
        assert ncmec.held, "the child never uploaded"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        ncmec.hold.clear()
        ncmec.release()
        if child.poll() is None:
            child.kill()
    killed = stored(database, report_id)
    assert killed.step == "upload:0" and killed.state == ReportState.SUBMITTING
    first = killed.remote_id
    service = client(ncmec)
    assert reporting.advance(database.sessions, report_id, service, filing(service)) == "finished"
    report = stored(database, report_id)
    assert report.retracted_ids == [first]
    assert finished_at_ncmec(ncmec) == [report.remote_id]
    assert [r.state for r in ncmec.reports.values()].count("finished") == 1


# Which confirmations are reported, by the job ---------------------------------------------

TAXONOMY = Taxonomy.load()
#: Decisions act at once; confirmations tagged with the taxonomy's reportable tags are
#: reported.
AT_ONCE = ReviewPolicy(undo_seconds=0, two_person_rule=False, reportable=TAXONOMY.reportable)
LATER = ReviewPolicy(undo_seconds=60, two_person_rule=False, reportable=TAXONOMY.reportable)


original_box = SecretBox("test-reporting")


def configured(database, fake: FakeCyberTip) -> SecretBox:
    box = original_box
    with database.session() as session:
        reporter_admin.add_reporter(
            session,
            box.encrypt,
            loopback_egress().policy,
            "user:admin",
            "tipline",
            "cybertip",
            credentials=fake.credentials,
            url=fake.url,
            config=CONFIG,
        )
    return box


def file_due(database, box: SecretBox) -> reporting.FilingReport:
    return reporting.file_due(database.sessions, box.decrypt, box.decrypt_bytes, loopback_egress())


def decided(
    database, ref: str, verdict: str, tags: list[str], policy=AT_ONCE, original=None
) -> int:
    md5 = hashlib.md5(ref.encode()).hexdigest()
    metadata = {"user_id": f"user-of-{ref}", "user_ip": "192.0.2.9", "file_name": "up.jpg"}
    with database.session() as session:
        case = cases.record_matches(
            session, ref, [hit(signal_type="md5", distance=0)], metadata, taxonomy=TAXONOMY
        )
        case.matches[0].query_signal = md5
        if original is not None:
            media.keep_original(session, case, original, original_box.encrypt_bytes)
        review.decide(session, case, verdict, "user:alice", policy, TAXONOMY, classification=tags)
        return case.id


def test_only_a_reportable_confirmation_in_effect_is_reported(database, ncmec):
    box = configured(database, ncmec)
    confirmed = decided(database, "confirmed", "confirm", ["csam", "a1"], AT_ONCE)
    decided(database, "rejected", "reject", [], AT_ONCE)
    decided(database, "other-harm", "confirm", ["trafficking"], AT_ONCE)
    waiting = decided(database, "waiting", "confirm", ["csam"], LATER)
    undone = decided(database, "undone", "confirm", ["csam"], LATER)
    with database.session() as session:
        review.undo(session, cases.get_case(session, undone), "user:alice", LATER)
    done = file_due(database, box)
    assert (done.finished, done.retrying, done.failed) == (1, 0, 0)
    with database.session() as session:
        reports = session.scalars(select(Report)).all()
        assert [(r.case_id, r.state) for r in reports] == [(confirmed, "finished")]
        assert session.get_one(Case, waiting).status == "pending"
    [remote] = finished_at_ncmec(ncmec)
    document = ncmec.reports[remote].document
    assert document.findtext("incidentSummary/incidentType") == ispws.CHILD_PORNOGRAPHY
    assert document.findtext("personOrUserReported/espIdentifier") == "user-of-confirmed"
    assert document.findtext("personOrUserReported/ipCaptureEvent/ipAddress") == "192.0.2.9"
    info = document.findtext("additionalInfo")
    assert "Content id: confirmed" in info and "Industry classification: A1" in info
    assert f"MD5 of the upload: {hashlib.md5(b'confirmed').hexdigest()}" in info
    with database.session() as session:
        assert metrics.report_counts(session) == dict.fromkeys(ReportState, 0) | {"finished": 1}
        a_day = timedelta(days=1)
        now = datetime.now(UTC)
        assert metrics.transparency(session, now - a_day, now + a_day)["reports_finished"] == 1
        exposed = metrics.prometheus_text(
            metrics.queue_snapshot(session, now),
            metrics.decision_stats(session),
            reports=metrics.report_counts(session),
        )
    assert 'hma_reports{state="finished"} 1' in exposed
    # The job again: nothing more is filed, and a second run of the trigger adds nothing.
    assert not reporting.file_due(
        database.sessions, box.decrypt, box.decrypt_bytes, loopback_egress()
    )
    with database.session() as session:
        case = session.get_one(Case, confirmed)
        record = review.latest_decision(case)
        assert reporting.queue_reports(session, case, record, TAXONOMY.reportable) == 0
    assert len(ncmec.reports) == 1


def test_with_report_originals_the_upload_itself_is_reported_then_forgotten(database, ncmec):
    box = configured(database, ncmec)
    photo = fixture_bytes(PHOTO)
    confirmed = decided(database, "kept", "confirm", ["csam", "b2"], AT_ONCE, original=photo)
    rejected = decided(database, "wrong", "reject", [], AT_ONCE, original=b"not abuse")
    with database.session() as session:
        kept = {o.case_id for o in session.scalars(select(CaseOriginal))}
    assert kept == {confirmed}  # the rejection took its original with it
    assert photo not in stored_original_bytes(database)  # sealed at rest
    done = file_due(database, box)
    assert done.finished == 1
    [remote] = finished_at_ncmec(ncmec)
    held = ncmec.reports[remote]
    [(file_id, data)] = held.files.items()
    assert data == photo
    details = held.details[file_id]
    assert details.findtext("originalFileName") == "up.jpg"
    assert details.findtext("industryClassification") == "B2"
    hashes = {h.get("hashType"): h.text for h in details.findall("originalFileHash")}
    assert hashes == {
        "MD5": hashlib.md5(photo).hexdigest(),
        "SHA256": hashlib.sha256(photo).hexdigest(),
    }
    assert details.findtext("ipCaptureEvent/eventName") == "Upload"
    with database.session() as session:
        assert session.scalars(select(CaseOriginal)).all() == []
        assert session.get_one(Case, rejected).status == "closed"


def stored_original_bytes(database) -> bytes:
    with database.session() as session:
        return b"".join(o.sealed for o in session.scalars(select(CaseOriginal)))


def test_a_scanner_keeps_originals_only_when_told_to(database, settings):
    from hma.assembly import build_scanner

    photo = fixture_bytes(PHOTO)
    with database.session() as session:
        bank = store.create_bank(session, "known")
        store.add_content(session, bank, [Signal("md5", hashlib.md5(photo).hexdigest())])
    for keep, ref in ((False, "plain"), (True, "kept")):
        scanner = build_scanner(settings.replace(report_originals=keep))
        with database.session() as session:
            result = scanner.scan(session, scanner.hash(photo), ref, media=photo)
            assert result.case_id is not None
    with database.session() as session:
        rows = session.execute(select(Case.content_ref, CaseOriginal.md5).join(CaseOriginal))
        assert [tuple(row) for row in rows] == [("kept", hashlib.md5(photo).hexdigest())]


# Seeing and steering reports over HTTP ------------------------------------------------------


def test_reports_are_listed_retried_and_retracted_over_http(settings, database, ncmec):
    api = api_for(settings.replace(egress_allow=f"127.0.0.1:{ncmec.server.server_port}"), database)
    # A reporter configured through the API, so its credentials are sealed by the app's key.
    body = {"name": "tipline", "type": "cybertip", "url": ncmec.url}
    body |= {"credentials": ncmec.credentials, "settings": CONFIG}
    assert api.post("/reporters", role="curator", json=body).status_code == 201
    first = decided(database, "first", "confirm", ["csam"], AT_ONCE)
    second = decided(database, "second", "confirm", ["csam"], AT_ONCE)
    with database.session() as session:
        by_case = {r.case_id: r.id for r in session.scalars(select(Report))}
        stuck = session.get_one(Report, by_case[first])
        stuck.state, stuck.last_error = ReportState.FAILED, "given up"
    service = client(ncmec)
    open_id = service.submit(filing(service).incident)
    with database.session() as session:
        session.get_one(Report, by_case[second]).remote_id = open_id

    listed = api.get("/reports", role="curator").get_json()["reports"]
    assert [(r["case_id"], r["status"]) for r in listed] == [(second, "queued"), (first, "failed")]
    failed = api.get(f"/reports?status=failed&case_id={first}", role="curator").get_json()
    assert [r["error"] for r in failed["reports"]] == ["given up"]
    bad = api.get("/reports?status=lost", role="curator")
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_report_status"

    assert api.post(f"/reports/{by_case[first]}/retry", role="curator").status_code == 403
    retried = api.post(f"/reports/{by_case[first]}/retry", role="admin").get_json()
    assert retried["status"] == "queued"
    again = api.post(f"/reports/{by_case[first]}/retry", role="admin")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "report_not_failed"

    retracted = api.post(f"/reports/{by_case[second]}/retract", role="admin").get_json()
    assert retracted["status"] == "retracted" and retracted["remote_id"] is None
    assert ncmec.reports[open_id].state == "retracted"
    settled = api.post(f"/reports/{by_case[second]}/retract", role="admin")
    assert settled.status_code == 409
    assert api.post("/reports/999999/retry", role="admin").status_code == 404


def test_the_case_page_tells_the_reviewer_and_shows_the_report(settings, database, ncmec):
    from hma.web import create_app
    from tests.test_curator_console import Console
    from tests.test_users import BOX, signed_in_client

    app = create_app(settings.replace(secret_key="users-test"), database)
    with database.session() as session:
        account = create_user(session, "rosa", "reviewer", BOX)
    console = Console(signed_in_client(app, account, "rosa"))
    waiting = make_case(database, "waiting")
    before = console.get(f"/console/cases/{waiting}").get_data(as_text=True)
    assert 'id="reported-notice"' not in before  # no reporter: nothing is reported
    configured(database, ncmec)
    page = console.get(f"/console/cases/{waiting}").get_data(as_text=True)
    notice = re.search(r'<p class="notice" id="reported-notice">(.*?)</p>', page, re.S)
    assert notice and "a1" in notice.group(1) and "tipline" in notice.group(1)

    reported = decided(database, "reported", "confirm", ["csam"], AT_ONCE)
    with database.session() as session:
        report = session.scalars(select(Report).where(Report.case_id == reported)).one()
        report.state, report.remote_id = ReportState.FINISHED, 4564654
    shown = console.get(f"/console/cases/{reported}").get_data(as_text=True)
    assert "To tipline: finished, NCMEC report 4564654" in shown


def test_a_report_retracted_while_its_filing_runs_stays_retracted(database, ncmec):
    """An admin retracts while the filing's upload is on its way: NCMEC then refuses it
    (the report is retracted), and that failure neither queues the report again nor
    leads to a new one."""
    service = client(ncmec)
    report_id = queued_report(database)
    ncmec.hold_before = {"upload"}
    outcome: list[str] = []
    runner = threading.Thread(
        target=lambda: outcome.append(
            reporting.advance(database.sessions, report_id, service, filing(service))
        )
    )
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while not ncmec.held and time.monotonic() < deadline:
            time.sleep(0.02)
        with database.session() as session:
            reporting.retract(session, "user:admin", report_id, service)
    finally:
        ncmec.hold_before.clear()
        ncmec.release()
        runner.join(30)
    assert outcome == ["retracted"]
    report = stored(database, report_id)
    assert report.state == ReportState.RETRACTED and report.remote_id is None
    assert [r.state for r in ncmec.reports.values()] == ["retracted"]
    assert reporting.advance(database.sessions, report_id, service, filing(service)) == "retracted"
    assert len(ncmec.reports) == 1
