"""Routes about the service itself: health, index freshness and the API description."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from banks import changelog
from hma import __version__
from hma.web import schemas
from hma.web.api import api
from hma.web.auth import optional_grant
from hma.web.context import db_session, services
from hma.web.openapi import openapi_spec
from hma.web.typed import endpoint

log = logging.getLogger(__name__)


@api.get("/status")
@endpoint(
    "Liveness; with a token, index freshness and versions",
    role=None,
    responses={
        200: schemas.Status,
        401: schemas.ErrorBody,
        503: schemas.Status | schemas.ErrorBody,
    },
)
def status() -> tuple[Response, int]:
    """Liveness for anyone; the version, the database engine and the indexes only for a
    valid token (of any role): they tell an outsider what to attack."""
    if optional_grant() is None:
        return jsonify({"status": "ok"}), 200
    indexes = services().scanner.indexes
    body: dict[str, Any] = {"version": __version__}
    try:
        head = changelog.head(db_session())
    except SQLAlchemyError:
        log.exception("status: database unreachable")
        body |= {"status": "unavailable", "database": "unreachable"}
        return jsonify(body | {"indexes": indexes.status()["indexes"]}), 503
    state = indexes.status(head)
    body |= {
        "status": "ok",
        "database": db_session().get_bind().dialect.name,
        "change_log_head": head,
        "applied_change_id": state["applied_change_id"],
        "index_lag": max(0, head - state["applied_change_id"]),
        "indexes": state["indexes"],
    }
    return jsonify(body), 200


@api.get("/live")
@endpoint("The process answers", role=None, responses={200: schemas.Liveness})
def live() -> schemas.Liveness:
    """Liveness: the process answers. Nothing else is checked, so that a database
    outage makes replicas unready (taken out of rotation), not restarted."""
    return {"status": "ok", "version": __version__}


@api.get("/ready")
@endpoint(
    "The database answers and the indexes are current",
    role=None,
    responses={200: schemas.Readiness, 503: schemas.Readiness | schemas.ErrorBody},
)
def ready() -> tuple[Response, int]:
    """Readiness: the database answers and the indexes are loaded and current."""
    found = services()
    try:
        changelog.head(db_session())
    except SQLAlchemyError:
        return jsonify({"status": "unready", "reason": "database unreachable"}), 503
    window = max(2.0, 4 * found.settings.index_poll_seconds)
    if not found.scanner.indexes.caught_up_within(window):
        return jsonify({"status": "unready", "reason": "indexes loading or behind"}), 503
    return jsonify({"status": "ready"}), 200


@api.get("/openapi.json")
@endpoint("This description", role=None, responses={200: schemas.JsonObject})
def openapi() -> dict[str, Any]:
    return openapi_spec(current_app._get_current_object(), __version__)  # type: ignore[attr-defined]
