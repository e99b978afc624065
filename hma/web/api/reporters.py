"""Reporters: where confirmed cases are reported (curator routes)."""

from __future__ import annotations

from typing import cast

from actioners import reporter_admin
from actioners.models import Reporter
from core.names import Role
from hma.web import schemas
from hma.web.api import api
from hma.web.auth import actor
from hma.web.context import db_session, services
from hma.web.typed import endpoint

_NO_REPORTER = {404: "No reporter of that name"}


def _status(reporter: Reporter) -> schemas.ReporterStatus:
    return cast(schemas.ReporterStatus, reporter_admin.reporter_status(reporter))


@api.get("/reporters")
@endpoint("The reporters", role=Role.CURATOR, responses={200: schemas.ReporterList})
def list_reporters() -> schemas.ReporterList:
    return {"reporters": [_status(r) for r in reporter_admin.all_reporters(db_session())]}


@api.post("/reporters")
@endpoint(
    "Add a reporter",
    role=Role.CURATOR,
    body=schemas.ReporterCreate,
    responses={201: schemas.ReporterStatus},
    errors={409: "A reporter of that name exists"},
)
def create_reporter(body: schemas.ReporterCreate) -> tuple[schemas.ReporterStatus, int]:
    session = db_session()
    reporter = reporter_admin.add_reporter(
        session,
        services().box.encrypt,
        services().egress.policy,
        actor(),
        body.name,
        body.type,
        credentials=body.credentials,
        url=body.url,
        config=body.settings,
    )
    session.commit()
    return _status(reporter), 201


@api.get("/reporters/<name>")
@endpoint(
    "A reporter", role=Role.CURATOR, responses={200: schemas.ReporterStatus}, errors=_NO_REPORTER
)
def get_reporter(name: str) -> schemas.ReporterStatus:
    return _status(reporter_admin.get_reporter(db_session(), name))


@api.post("/reporters/<name>/check")
@endpoint(
    "Ask the service whether it takes the reporter's credentials",
    role=Role.CURATOR,
    responses={200: schemas.ReporterCheck},
    errors=_NO_REPORTER,
)
def check_reporter(name: str) -> schemas.ReporterCheck:
    configured = reporter_admin.get_reporter(db_session(), name)
    unseal = services().box.decrypt
    return cast(
        schemas.ReporterCheck,
        reporter_admin.check_reporter(configured, unseal, services().egress),
    )


@api.delete("/reporters/<name>")
@endpoint("Remove a reporter", role=Role.CURATOR, responses={204: None}, errors=_NO_REPORTER)
def delete_reporter(name: str) -> tuple[str, int]:
    session = db_session()
    reporter_admin.remove_reporter(session, actor(), name)
    session.commit()
    return "", 204
