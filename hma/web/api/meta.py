"""Routes about the service itself: liveness and the API description."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, jsonify
from sqlalchemy.exc import SQLAlchemyError

from banks import changelog
from hma import __version__
from hma.web.api import api
from hma.web.context import db_session, services
from hma.web.openapi import openapi_spec

log = logging.getLogger(__name__)


@api.get("/status")
def status() -> tuple[Response, int]:
    """Liveness and index freshness; no token needed, nothing sensitive shown."""
    indexes = services().scanner.indexes.status()
    body: dict[str, Any] = {"version": __version__, "indexes": indexes}
    try:
        head = changelog.head(db_session())
    except SQLAlchemyError:
        log.exception("status: database unreachable")
        return jsonify(body | {"status": "unavailable", "database": "unreachable"}), 503
    body |= {
        "status": "ok",
        "database": db_session().get_bind().dialect.name,
        "change_log_head": head,
        "index_lag": max(0, head - indexes["applied_change_id"]),
    }
    return jsonify(body), 200


@api.get("/openapi.json")
def openapi() -> dict[str, Any]:
    return openapi_spec(__version__)
