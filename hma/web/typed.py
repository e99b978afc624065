"""Typed routes: each view declares what it takes and what it answers, once.

`@endpoint(...)` validates the query string, the JSON body or the multipart
form with the declared pydantic models and hands the view the parsed
objects; the same declaration is what `hma.web.openapi` publishes. Why not
a library for the validation too: spectree and flask-openapi3 were measured
(`bench/openapi_libraries.py`, docs/benchmarks.md) and cost 4 to 50 times
more per request than calling pydantic here, the second because it rebuilds
a JSON schema for every query string it validates; apispec assembles the
document.

Errors keep the API's one shape: a field's problem answers 400 with the
field's `error_code` (see `hma.web.schemas.coded`), a body that is not JSON
415, as before.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar, cast

from flask import request
from pydantic import BaseModel, ValidationError

from hma.web.auth import require
from hma.web.errors import ApiError

View = TypeVar("View", bound=Callable[..., Any])
DEFAULT_CODE = "invalid_field"


@dataclass(frozen=True)
class Operation:
    """What one route takes and answers, for validation and for the spec."""

    summary: str
    #: The role a token needs (None: no token at all).
    role: str | None
    #: Only a personal token (a console user's) may call it.
    person: bool
    #: Status code -> the response's type (None: no body), or a media type's name.
    responses: Mapping[int, Any]
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    form: type[BaseModel] | None = None
    #: The body is optional (a POST that may be sent empty).
    body_optional: bool = False
    #: Route-specific error statuses, each with what it means here.
    errors: Mapping[int, str] = field(default_factory=dict)
    #: The view's docstring: why the route behaves as it does.
    description: str = ""


def endpoint(
    summary: str,
    *,
    role: str | None,
    responses: Mapping[int, Any],
    person: bool = False,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    form: type[BaseModel] | None = None,
    body_optional: bool = False,
    errors: Mapping[int, str] | None = None,
) -> Callable[[View], View]:
    """Declare a view's role, inputs and answers; check the token, then the inputs."""

    def decorate(view: View) -> View:
        operation = Operation(
            summary,
            role,
            person,
            responses,
            query,
            body,
            form,
            body_optional,
            errors or {},
            " ".join((inspect.getdoc(view) or "").split()),
        )

        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if operation.query is not None:
                kwargs["query"] = parse(operation.query, request.args.to_dict())
            if operation.body is not None or operation.form is not None:
                kwargs["body"] = _body(operation)
            return view(*args, **kwargs)

        checked = wrapped if role is None else require(role, person)(wrapped)
        checked.operation = operation  # type: ignore[attr-defined]
        return cast(View, checked)

    return decorate


def operation_of(view: Callable[..., Any]) -> Operation | None:
    return getattr(view, "operation", None)


def _body(operation: Operation) -> Any:
    if operation.form is not None and request.mimetype == "multipart/form-data":
        fields: dict[str, Any] = dict(request.form)
        upload = request.files.get("file")
        if upload is None:
            raise ApiError(
                400, "missing_file", "send the content as a multipart field named 'file'"
            )
        fields["file"] = upload.read()
        return parse(operation.form, fields)
    if operation.body is None or (operation.body_optional and not request.data):
        if operation.body_optional:
            return None
        raise ApiError(415, "unsupported_content_type", "send a multipart upload in 'file'")
    if not request.is_json:
        raise ApiError(415, "unsupported_content_type", "send a JSON body (application/json)")
    sent = request.get_json(silent=True)
    if not isinstance(sent, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return parse(operation.body, sent)


def parse(model: type[BaseModel], values: Mapping[str, Any]) -> Any:
    """`values` as `model`, or a 400 naming the first field that is wrong."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        problem = exc.errors()[0]
        name = str(problem["loc"][0]) if problem["loc"] else ""
        where = ".".join(str(part) for part in problem["loc"])
        code = _error_code(model, name)
        message = problem["msg"].removeprefix("Value error, ")
        raise ApiError(400, code, f"{where}: {message}" if where else message) from None


def _error_code(model: type[BaseModel], name: str) -> str:
    found = model.model_fields.get(name)
    extra = found.json_schema_extra if found is not None else None
    if isinstance(extra, dict) and isinstance(extra.get("x-error-code"), str):
        return str(extra["x-error-code"])
    return DEFAULT_CODE
