"""One JSON error shape for everything: `{"error": {"code": ..., "message": ...}}`.

Errors from the libraries carry their own codes; this module only decides the
HTTP status. Anything unexpected is logged with its traceback and answered
with a 500 that reveals nothing of the internals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, has_request_context, jsonify, request
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from core.errors import CodedError, DomainError, MediaTooLarge, ProjectError, TextTooLarge

log = logging.getLogger(__name__)

#: The APIs served beside /api/v1 whose errors have a shape of their own (HMA's):
#: (whether a path is theirs, their error body for a message).
error_shapes: list[tuple[Callable[[str], bool], Callable[[str], Any]]] = []

_DOMAIN_STATUS = {
    "invalid": 400,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "limited": 429,
    "busy": 503,
}


class ApiError(ProjectError):
    """An error raised by a view, with its HTTP status and code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def status_for(exc: CodedError) -> int:
    if isinstance(exc, MediaTooLarge | TextTooLarge):
        return 413
    if isinstance(exc, DomainError):
        return _DOMAIN_STATUS[exc.kind]
    return 400


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    body: Any = {"error": {"code": code, "message": message}}
    if has_request_context():
        for serves, shape in error_shapes:
            if serves(request.path):
                body = shape(message)
    return jsonify(body), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api(exc: ApiError) -> tuple[Response, int]:
        return error_response(exc.status, exc.code, str(exc))

    @app.errorhandler(CodedError)
    def _coded(exc: CodedError) -> tuple[Response, int]:
        response, status = error_response(status_for(exc), exc.code, exc.message)
        if status == 503:
            response.headers["Retry-After"] = "1"
        return response, status

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        code = {413: "payload_too_large"}.get(status) or (exc.name or "error").lower().replace(
            " ", "_"
        )
        return error_response(status, code, exc.description or exc.name or "error")

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def _database_unavailable(exc: Exception) -> tuple[Response, int]:
        # The database is down, unreachable or too busy: the caller may retry,
        # and the connection pool reconnects by itself once it is back.
        log.warning("database unavailable: %s", exc)
        response, status = error_response(
            503, "database_unavailable", "the database is unavailable; retry shortly"
        )
        response.headers["Retry-After"] = "5"
        return response, status

    @app.errorhandler(DataError)
    @app.errorhandler(OverflowError)
    def _out_of_range(exc: Exception) -> tuple[Response, int]:
        # A number too large for the database's columns (PostgreSQL answers
        # DataError; SQLite's driver raises OverflowError before sending it).
        log.info("value out of range: %s", exc)
        return error_response(400, "value_out_of_range", "a number in the request is too large")

    @app.errorhandler(RecursionError)
    def _too_deep(exc: RecursionError) -> tuple[Response, int]:
        return error_response(400, "input_too_deep", "the request nests too deeply")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal error; see the server log")
