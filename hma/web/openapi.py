"""The OpenAPI 3.1 description of /api/v1, made from the routes' own declarations.

Every view under /api/v1 is declared with `hma.web.typed.endpoint`; this
module walks the application's URL map, turns each declaration into an
operation (apispec assembles the document) and each model or typed
dictionary of `hma.web.schemas` into a component schema (pydantic writes
them). Besides a route's own answers, every error it can give is listed:
those of its token check, its inputs and its path, and those any route can
give (database unavailable, overloaded, internal error).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import UnionType
from typing import Any, Union, get_args, get_origin

from apispec import APISpec
from flask import Flask
from pydantic import BaseModel, TypeAdapter
from werkzeug.routing import Rule

from hma.web import schemas
from hma.web.headers import MAX_ID
from hma.web.typed import Operation, operation_of

PREFIX = "/api/v1"
#: A variable of a Flask rule: `<name>` or `<converter:name>`.
_VARIABLE = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
REF = "#/components/schemas/{model}"
_SKIPPED_METHODS = {"HEAD", "OPTIONS"}
#: What an error status means when a route does not say.
_GENERAL_ERRORS = {
    400: "Bad input: `error.code` says which",
    401: "No token, or an unknown or revoked one",
    403: "The token's role may not use this route",
    404: "No such resource",
    413: "The request is larger than the upload limit",
    415: "The body is not of a media type this route takes",
    500: "An internal error (logged on the server); nothing about it is shown",
    503: "Overloaded or the database unavailable; retry after `Retry-After`",
}


def openapi_spec(app: Flask, version: str) -> dict[str, Any]:
    """The document for `app`, made once per application."""
    made: dict[str, Any] | None = app.extensions.get("openapi")
    if made is None:
        made = app.extensions["openapi"] = _spec(app, version)
    return made


def _spec(app: Flask, version: str) -> dict[str, Any]:
    spec = APISpec(
        title="Hasher-Matcher-Actioner",
        version=version,
        openapi_version="3.1.0",
        info={"description": "Hash uploads, match them against banks, and review every match."},
    )
    spec.components.security_scheme("token", {"type": "http", "scheme": "bearer"})
    components = _Components(spec)
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        operation = operation_of(app.view_functions[rule.endpoint])
        if operation is None:
            raise RuntimeError(f"{rule.rule} is not declared with hma.web.typed.endpoint")
        path, parameters = _path(rule)
        entry = paths.setdefault(path, {"parameters": parameters, "operations": {}})
        for method in sorted((rule.methods or set()) - _SKIPPED_METHODS):
            entry["operations"][method.lower()] = _operation(
                operation, components, has_path=bool(parameters)
            )
    for path, entry in paths.items():
        spec.path(path=path, operations=entry["operations"], parameters=entry["parameters"])
    return spec.to_dict()


def _path(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    """`/banks/<name>/content/<id:content_id>` as OpenAPI writes it, and its parameters."""
    parameters = []
    for converter, name in _VARIABLE.findall(rule.rule):
        schema: dict[str, Any] = (
            {"type": "integer", "minimum": 1, "maximum": MAX_ID}
            if converter == "id"
            else {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}
        )
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return _VARIABLE.sub(lambda found: "{" + found.group(2) + "}", rule.rule), parameters


def _operation(operation: Operation, components: _Components, *, has_path: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": operation.summary}
    description = [operation.description] if operation.description else []
    if operation.role is None:
        out["security"] = []
    else:
        out["security"] = [{"token": []}]
        who = "a personal token (a console user's)" if operation.person else "a token"
        description.append(f"Needs {who} of role `{operation.role}` (or `admin`).")
    if description:
        out["description"] = " ".join(description)
    if operation.query is not None:
        out["parameters"] = components.query_parameters(operation.query)
    if operation.body is not None or operation.form is not None:
        content: dict[str, Any] = {}
        if operation.body is not None:
            content["application/json"] = {"schema": components.ref(operation.body)}
        if operation.form is not None:
            content["multipart/form-data"] = {"schema": components.ref(operation.form)}
        out["requestBody"] = {"required": not operation.body_optional, "content": content}
    out["responses"] = _responses(operation, components, has_path)
    return out


def _responses(operation: Operation, components: _Components, has_path: bool) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for status, shape in operation.responses.items():
        answer: dict[str, Any] = {"description": _describe_success(status)}
        if shape is not None:
            answer["content"] = _content(shape if isinstance(shape, list) else [shape], components)
        answers[str(status)] = answer
    errors: dict[int, str] = {500: _GENERAL_ERRORS[500], 503: _GENERAL_ERRORS[503]}
    if operation.role is not None:
        errors |= {401: _GENERAL_ERRORS[401], 403: _GENERAL_ERRORS[403]}
    if operation.query or operation.body or operation.form:
        errors[400] = _GENERAL_ERRORS[400]
    if operation.body or operation.form:
        errors |= {413: _GENERAL_ERRORS[413], 415: _GENERAL_ERRORS[415]}
    if has_path:
        errors[404] = _GENERAL_ERRORS[404]
    errors |= dict(operation.errors)
    error_body = {"application/json": {"schema": components.ref(schemas.ErrorBody)}}
    for status, meaning in sorted(errors.items()):
        if status in operation.responses:
            answers[str(status)]["description"] = meaning
        else:
            answers[str(status)] = {"description": meaning, "content": error_body}
    return answers


def _content(shapes: list[Any], components: _Components) -> dict[str, Any]:
    """A typed shape is JSON; a media type's name, a body of that type."""
    content: dict[str, Any] = {}
    for shape in shapes:
        if isinstance(shape, str):
            content[shape] = {"schema": {"type": "string"}}
        else:
            content["application/json"] = {"schema": components.ref(shape)}
    return content


def _describe_success(status: int) -> str:
    return {
        200: "Done",
        201: "Created",
        202: "Accepted: the work goes on in the background",
        204: "Done; no body",
    }.get(status) or _GENERAL_ERRORS.get(status, "Answer")


class _Components:
    """Component schemas, each registered once under its class's name."""

    def __init__(self, spec: APISpec) -> None:
        self.spec = spec
        self.known: set[str] = set()

    def ref(self, shape: Any) -> dict[str, Any]:
        """A reference to `shape`'s schema; for `A | B`, to either."""
        if get_origin(shape) in (Union, UnionType):
            return {"anyOf": [self.ref(member) for member in get_args(shape)]}
        if get_origin(shape) is dict:
            return _json_schema(shape)  # a plain object: nothing to name
        name = shape.__name__
        if name not in self.known:
            schema = _json_schema(shape)
            for nested, definition in schema.pop("$defs", {}).items():
                self._add(nested, definition)
            self._add(name, schema)
        return {"$ref": REF.format(model=name)}

    def query_parameters(self, model: type[BaseModel]) -> list[dict[str, Any]]:
        schema = _json_schema(model)
        required = set(schema.get("required", []))
        return [
            {"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in schema["properties"].items()
        ]

    def _add(self, name: str, schema: Mapping[str, Any]) -> None:
        if name not in self.known:
            self.known.add(name)
            self.spec.components.schema(name, dict(schema))


def _json_schema(shape: Any) -> dict[str, Any]:
    if isinstance(shape, type) and issubclass(shape, BaseModel):
        return shape.model_json_schema(ref_template=REF, mode="validation")
    return TypeAdapter(shape).json_schema(ref_template=REF, mode="serialization")
