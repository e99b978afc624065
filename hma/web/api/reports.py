"""Reports of confirmed cases: listed for curators, retried or retracted by admins."""

from __future__ import annotations

from typing import cast

from actioners import reporting
from core.names import Role
from hma.web import schemas
from hma.web.api import api
from hma.web.auth import actor
from hma.web.context import db_session, services
from hma.web.typed import endpoint

_NO_REPORT = {404: "No such report"}


@api.get("/reports")
@endpoint(
    "Reports, newest first, by case and status",
    role=Role.CURATOR,
    query=schemas.ReportQuery,
    responses={200: schemas.ReportList},
)
def list_reports(query: schemas.ReportQuery) -> schemas.ReportList:
    found = reporting.list_reports(db_session(), case_id=query.case_id, state=query.status)
    return {"reports": cast(list[schemas.ReportEntry], found)}


@api.post("/reports/<id:report_id>/retry")
@endpoint(
    "Give a failed report its attempts again",
    role=Role.ADMIN,
    responses={200: schemas.ReportEntry},
    errors=_NO_REPORT | {409: "The report has not failed"},
)
def retry_report(report_id: int) -> schemas.ReportEntry:
    session = db_session()
    report = reporting.retry(session, actor(), report_id)
    session.commit()
    return cast(schemas.ReportEntry, reporting.describe(session, report))


@api.post("/reports/<id:report_id>/retract")
@endpoint(
    "Cancel a report that is not finished, at the service too",
    role=Role.ADMIN,
    responses={200: schemas.ReportEntry},
    errors=_NO_REPORT | {409: "The report is finished or retracted already"},
)
def retract_report(report_id: int) -> schemas.ReportEntry:
    session = db_session()
    report = reporting.get_report(session, report_id)
    unseal = services().box.decrypt
    service = reporting.service_for(session, report, unseal, services().egress)
    reporting.retract(session, actor(), report_id, service)
    session.commit()
    return cast(schemas.ReportEntry, reporting.describe(session, report))
