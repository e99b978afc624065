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

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from actioners.models import Case, CaseDecision, CaseOriginal, Report, Reporter
from actioners.reporter_admin import Unseal, adapter_for
from actioners.reporters.ispws import (
    INDUSTRY_CLASSES,
    FileDescription,
    Incident,
    IpEvent,
    ReportedUser,
    ReportingCompany,
)
from actioners.retention import delete_original
from banks.egress import Egress
from core.backoff import Backoff
from core.errors import Conflict, InvalidInput, NotFound, ReportingFailed
from core.names import DecisionState, ReportState, Verdict
from database import audit, utcnow

log = logging.getLogger(__name__)

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


@runtime_checkable
class FilingService(Protocol):
    """The calls of a reporting service that files reports (the CyberTipline's)."""

    def submit(self, incident: Incident) -> int: ...

    def upload(self, report_id: int, file_name: str, data: bytes) -> str: ...

    def describe_file(self, report_id: int, file_id: str, description: FileDescription) -> None: ...

    def finish(self, report_id: int) -> tuple[str, ...]: ...

    def retract(self, report_id: int) -> None: ...

    def company(self) -> ReportingCompany: ...

    def incident_type(self, classification: Sequence[str]) -> str: ...


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
                report = session.get_one(Report, report_id)
                # Retracted by an admin meanwhile: it stays so, whatever this call met.
                return report.state if report.state in SETTLED else _failed(report, exc)
        with sessions.begin() as session:
            report = session.get_one(Report, report_id)
            if report.state in SETTLED:
                return report.state
            _record(session, report, call, outcome)


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


def _record(session: Session, report: Report, call: str, outcome: Any) -> None:
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
        details = {"reporter_id": report.reporter_id, "remote_id": report.remote_id}
        audit.record(session, "hma", audit.REPORT_FINISH, f"case:{report.case_id}", details)
        _forget_original_once_reported(session, report)
    report.files, report.step = files, None


def _forget_original_once_reported(session: Session, report: Report) -> None:
    """The kept upload goes once every report of its case is finished."""
    unsettled = select(Report.id).where(
        Report.case_id == report.case_id,
        Report.id != report.id,
        Report.state.in_((ReportState.QUEUED, ReportState.SUBMITTING)),
    )
    if session.scalar(unsettled.limit(1)) is None and report.case_id is not None:
        delete_original(session, report.case_id)


def _failed(report: Report, exc: ReportingFailed) -> str:
    report.attempts += 1
    report.last_error = str(exc)
    if report.attempts >= MAX_ATTEMPTS:
        report.state = ReportState.FAILED
    else:
        report.state = ReportState.QUEUED
        report.next_attempt_at = utcnow() + timedelta(seconds=RETRY.after(report.attempts))
    return report.state


# Which cases are reported, and what their reports say ------------------------------------

#: The industry classes the taxonomy spells in lower case.
INDUSTRY_TAGS = {tag.lower(): tag for tag in INDUSTRY_CLASSES}
#: Signal types whose upload values a report names, with the name NCMEC gives them.
REPORTED_HASHES = {"md5": "MD5", "sha256": "SHA256", "pdq": "PDQ"}


def queue_reports(
    session: Session, case: Case, record: CaseDecision, reportable: frozenset[str]
) -> int:
    """Queue one report per enabled reporter for a confirmation now in effect whose
    classification holds a reportable tag; how many. Never twice for a case."""
    if record.decision != Verdict.CONFIRM or not set(record.classification) & reportable:
        return 0
    already = set(session.scalars(select(Report.reporter_id).where(Report.case_id == case.id)))
    queued = 0
    for reporter in session.scalars(select(Reporter).where(Reporter.enabled)):
        if reporter.id in already:
            continue
        session.add(Report(case_id=case.id, reporter_id=reporter.id))
        audit.record(
            session, "hma", audit.REPORT_QUEUE, f"case:{case.id}", {"reporter": reporter.name}
        )
        queued += 1
    return queued


def filing_for(
    session: Session,
    report: Report,
    service: FilingService,
    unseal_original: Callable[[bytes], bytes],
) -> Filing:
    """What the report of a case says: the confirmation's classification and note, the
    upload's time and the platform's metadata about its user, the upload's hashes, and
    the upload itself where it was kept (`report_originals`)."""
    case = session.get_one(Case, report.case_id)
    decision = session.scalars(
        select(CaseDecision)
        .where(
            CaseDecision.case_id == case.id,
            CaseDecision.decision == Verdict.CONFIRM,
            CaseDecision.state == DecisionState.EFFECTIVE,
        )
        .order_by(CaseDecision.id.desc())
    ).first()
    tags = list(decision.classification) if decision is not None else []
    company = service.company()
    metadata = case.details or {}
    user = ReportedUser(
        esp_identifier=str(metadata.get("user_id") or ""),
        esp_service=company.company_template,
        screen_name=str(metadata.get("user_screen_name") or ""),
        emails=(str(metadata["user_email"]),) if metadata.get("user_email") else (),
        ip_events=(IpEvent(str(metadata["user_ip"])),) if metadata.get("user_ip") else (),
    )
    hashes = sorted(
        {
            (REPORTED_HASHES[m.signal_type], m.query_signal)
            for m in case.matches
            if m.signal_type in REPORTED_HASHES
        }
    )
    industry = next((INDUSTRY_TAGS[t] for t in tags if t in INDUSTRY_TAGS), "")
    lines = [decision.note if decision is not None else "", f"Content id: {case.content_ref}"]
    lines += [f"{hash_type} of the upload: {value}" for hash_type, value in hashes]
    if industry:
        lines.append(f"Industry classification: {industry}")
    incident = Incident(
        incident_type=service.incident_type(tags),
        at=case.created_at,
        reporter=company,
        user=user if any((user.esp_identifier, user.screen_name, user.emails)) else None,
        additional_info="\n".join(line for line in lines if line),
    )
    original = session.scalar(select(CaseOriginal).where(CaseOriginal.case_id == case.id))
    if original is None:
        return Filing(incident)
    name = str(metadata.get("file_name") or case.content_ref)
    described = FileDescription(
        original_file_name=name,
        industry_classification=industry,
        original_hashes=(("MD5", original.md5), ("SHA256", original.sha256)),
        upload_event=(
            IpEvent(str(metadata["user_ip"]), "Upload", case.created_at)
            if metadata.get("user_ip")
            else None
        ),
    )
    return Filing(incident, (ReportFile(name, unseal_original(original.sealed), described),))


def due_reports(session: Session, now: datetime | None = None) -> list[int]:
    """Reports with steps to take now: queued and due, or left half-taken."""
    moment = now or utcnow()
    waiting = (Report.state == ReportState.QUEUED) & (Report.next_attempt_at <= moment)
    return list(
        session.scalars(
            select(Report.id)
            .where(waiting | (Report.state == ReportState.SUBMITTING))
            .order_by(Report.id)
        )
    )


@dataclass
class FilingReport:
    """What one run of `file_due` did."""

    finished: int = 0
    retrying: int = 0
    failed: int = 0

    def __bool__(self) -> bool:
        return bool(self.finished or self.retrying or self.failed)


def file_due(
    sessions: sessionmaker[Session],
    unseal: Unseal,
    unseal_original: Callable[[bytes], bytes],
    egress: Egress,
) -> FilingReport:
    """Take the steps of every due report, one report after another."""
    with sessions() as session:
        due = due_reports(session)
    outcome = FilingReport()
    for report_id in due:
        with sessions() as session:
            report = session.get_one(Report, report_id)
            try:
                service = service_for(session, report, unseal, egress)
            except Conflict as exc:
                log.error("report %d: %s", report_id, exc.message)
                continue
            filing = filing_for(session, report, service, unseal_original)
        state = advance(sessions, report_id, service, filing)
        if state == ReportState.FINISHED:
            outcome.finished += 1
        elif state == ReportState.FAILED:
            outcome.failed += 1
        else:
            outcome.retrying += 1
    return outcome


# Seeing and steering reports --------------------------------------------------------------


def list_reports(
    session: Session, *, case_id: int | None = None, state: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Reports, newest first, as people see them (never a credential or a file)."""
    if state is not None and state not in tuple(ReportState):
        raise InvalidInput(
            f"status must be one of {', '.join(ReportState)}", code="invalid_report_status"
        )
    query = (
        select(Report, Reporter.name)
        .join(Reporter, Reporter.id == Report.reporter_id)
        .order_by(Report.id.desc())
        .limit(limit)
    )
    if case_id is not None:
        query = query.where(Report.case_id == case_id)
    if state is not None:
        query = query.where(Report.state == state)
    return [report_json(report, name) for report, name in session.execute(query)]


def describe(session: Session, report: Report) -> dict[str, Any]:
    return report_json(report, session.get_one(Reporter, report.reporter_id).name)


def report_json(report: Report, reporter: str) -> dict[str, Any]:
    return {
        "id": report.id,
        "case_id": report.case_id,
        "reporter": reporter,
        "status": report.state,
        "remote_id": report.remote_id,
        "files": len([f for f in report.files if f.get("file_id")]),
        "error": report.last_error,
        "created_at": report.created_at.isoformat(),
        "finished_at": report.finished_at.isoformat() if report.finished_at else None,
    }


def retry(session: Session, actor: str, report_id: int) -> Report:
    """Give a failed report its attempts again, from now."""
    report = get_report(session, report_id)
    if report.state != ReportState.FAILED:
        raise Conflict(
            f"report {report_id} is {report.state}, not failed", code="report_not_failed"
        )
    report.state, report.attempts, report.next_attempt_at = ReportState.QUEUED, 0, utcnow()
    audit.record(session, actor, audit.REPORT_RETRY, f"report:{report_id}")
    return report


def retract(session: Session, actor: str, report_id: int, service: FilingService) -> Report:
    """Cancel a report that is not finished, at the service too if it holds it open."""
    report = get_report(session, report_id)
    if report.state in (ReportState.FINISHED, ReportState.RETRACTED):
        raise Conflict(
            f"report {report_id} is {report.state}: there is nothing to retract",
            code="report_settled",
        )
    if report.remote_id is not None:
        remote = report.remote_id
        _unless(lambda: service.retract(remote), ALREADY_RETRACTED, NO_SUCH_REPORT)
        report.retracted_ids = [*report.retracted_ids, remote]
        report.remote_id = None
    report.state, report.step = ReportState.RETRACTED, None
    audit.record(session, actor, audit.REPORT_RETRACT, f"report:{report_id}")
    return report


def service_for(session: Session, report: Report, unseal: Unseal, egress: Egress) -> FilingService:
    """The report's reporter, speaking for it."""
    service = adapter_for(session.get_one(Reporter, report.reporter_id), unseal, egress)
    if not isinstance(service, FilingService):
        raise Conflict("this reporter's type files no reports", code="reporter_files_nothing")
    return service


def get_report(session: Session, report_id: int) -> Report:
    report = session.get(Report, report_id)
    if report is None:
        raise NotFound(f"no report {report_id}", code="report_not_found")
    return report
