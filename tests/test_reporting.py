"""Filing a report a committed step at a time: exactly one finished report per case,
whatever fails or stops, against the stand-in ISPWS on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime

import pytest

from actioners import reporting
from actioners.models import Report, Reporter
from actioners.reporters import ispws
from core.names import ReportState
from tests.conftest import fixture_bytes
from tests.ispws_server import FakeCyberTip, Injected
from tests.test_reporters import client
from tests.test_review import make_case

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
