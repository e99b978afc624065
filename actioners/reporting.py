"""Filing one report, a committed step at a time, so that a case is reported once.

Before each call to the service the call in flight is committed
(`Report.step`), and after it what the call returned, each in its own
transaction; no transaction is open while the network is. After a crash, the
step says what the service may have done unseen:

- `submit`: it may hold an open report whose id never reached us. That report
  is never finished (NCMEC deletes unfinished reports itself), so submitting
  again is safe.
- `upload:<n>`: it may hold the file already, and a second upload would put it
  in the report twice. The open report is retracted and the report starts
  again; the retracted id is kept (`retracted_ids`).
- `fileinfo:<n>`: describing a file again replaces its description.
- `finish`: it may be finished already; finishing again is answered "already
  finished" (5102), which is taken as done.

So a case yields at most one finished report, whatever stops the process and
wherever. A failed call is recorded and retried later with backoff; after
`MAX_ATTEMPTS` the report is `failed`, for a person to look at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from actioners.models import Report
from actioners.reporters.ispws import FileDescription, Incident
from core.backoff import Backoff
from core.errors import ReportingFailed
from core.names import ReportState
from database import utcnow

#: NCMEC's answers that mean the call's effect is there already.
ALREADY_FINISHED = 5102
ALREADY_RETRACTED = 5101
NO_SUCH_REPORT = 5001
#: A failing report is tried again a minute later, then doubling up to six hours.
RETRY = Backoff(first=60, longest=6 * 3600)
MAX_ATTEMPTS = 10
#: States in which nothing is left to do.
SETTLED = frozenset({ReportState.FINISHED, ReportState.FAILED, ReportState.RETRACTED})


@dataclass(frozen=True)
class ReportFile:
    name: str
    data: bytes
    description: FileDescription


@dataclass(frozen=True)
class Filing:
    """What a report says and carries: the same on every attempt."""

    incident: Incident
    files: tuple[ReportFile, ...] = ()


class FilingService(Protocol):
    """The calls of a reporting service that files reports (the CyberTipline's)."""

    def submit(self, incident: Incident) -> int: ...

    def upload(self, report_id: int, file_name: str, data: bytes) -> str: ...

    def describe_file(self, report_id: int, file_id: str, description: FileDescription) -> None: ...

    def finish(self, report_id: int) -> tuple[str, ...]: ...

    def retract(self, report_id: int) -> None: ...


def advance(
    sessions: sessionmaker[Session], report_id: int, service: FilingService, filing: Filing
) -> str:
    """Take the report's remaining steps; its state afterwards."""
    while True:
        with sessions.begin() as session:
            report = session.get_one(Report, report_id)
            if report.state in SETTLED:
                return report.state
            call = _next_call(report, filing)
            if call != "retract":  # a retraction keeps the upload it undoes in view
                report.step = call
            report.state = ReportState.SUBMITTING
            remote, files = report.remote_id, list(report.files)
        try:
            outcome = _make(call, service, filing, remote, files)
        except ReportingFailed as exc:
            with sessions.begin() as session:
                return _failed(session.get_one(Report, report_id), exc)
        with sessions.begin() as session:
            _record(session.get_one(Report, report_id), call, outcome)


def _next_call(report: Report, filing: Filing) -> str:
    if report.remote_id is not None and (report.step or "").startswith("upload:"):
        return "retract"
    if report.remote_id is None:
        return "submit"
    for number in range(len(filing.files)):
        held = report.files[number] if number < len(report.files) else {}
        if not held.get("file_id"):
            return f"upload:{number}"
        if not held.get("described"):
            return f"fileinfo:{number}"
    return "finish"


def _make(
    call: str,
    service: FilingService,
    filing: Filing,
    remote: int | None,
    files: list[dict[str, Any]],
) -> Any:
    kind, _, position = call.partition(":")
    if kind == "submit":
        return service.submit(filing.incident)
    if remote is None:
        raise ReportingFailed(f"{call} needs an open report, and there is none")
    if kind == "retract":
        _unless(lambda: service.retract(remote), ALREADY_RETRACTED, NO_SUCH_REPORT)
        return None
    if kind == "finish":
        _unless(lambda: service.finish(remote), ALREADY_FINISHED)
        return None
    file = filing.files[int(position)]
    if kind == "upload":
        return service.upload(remote, file.name, file.data)
    service.describe_file(remote, files[int(position)]["file_id"], file.description)
    return None


def _unless(call: Any, *done_codes: int) -> None:
    """Make the call; an answer that its effect is there already counts as success."""
    try:
        call()
    except ReportingFailed as exc:
        if exc.response_code not in done_codes:
            raise


def _record(report: Report, call: str, outcome: Any) -> None:
    kind, _, position = call.partition(":")
    files = [dict(held) for held in report.files]
    if kind == "submit":
        report.remote_id, files = outcome, []
    elif kind == "retract":
        cancelled = [report.remote_id] if report.remote_id is not None else []
        report.retracted_ids = [*report.retracted_ids, *cancelled]
        report.remote_id, files = None, []
    elif kind == "upload":
        files += [{}] * (int(position) + 1 - len(files))
        files[int(position)] = {"file_id": outcome, "described": False}
    elif kind == "fileinfo":
        files[int(position)]["described"] = True
    else:
        report.state, report.finished_at, report.last_error = ReportState.FINISHED, utcnow(), None
    report.files, report.step = files, None


def _failed(report: Report, exc: ReportingFailed) -> str:
    report.attempts += 1
    report.last_error = str(exc)
    if report.attempts >= MAX_ATTEMPTS:
        report.state = ReportState.FAILED
    else:
        report.state = ReportState.QUEUED
        report.next_attempt_at = utcnow() + timedelta(seconds=RETRY.after(report.attempts))
    return report.state
