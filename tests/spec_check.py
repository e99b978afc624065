"""Every /api/v1 response any test receives is checked against /api/v1/openapi.json.

`conftest.py` connects `check` to Flask's `request_finished` signal: each
answer's status must be documented for its route, its media type listed, and
a JSON body must validate against the documented schema. Problems are
collected and fail the test that caused them; `SEEN` records which
(path, method) pairs were exercised, for the test that drives every route.
"""

from __future__ import annotations

import re
from fnmatch import fnmatch
from typing import Any

import jsonschema_rs
from flask import Flask, Response, request

from hma import __version__
from hma.web.openapi import openapi_spec

PROBLEMS: list[str] = []
SEEN: set[tuple[str, str]] = set()
_VALIDATORS: dict[tuple[int, str, str, str], Any] = {}


def template(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def check(sender: Flask, response: Response, **_extra: Any) -> None:
    rule = request.url_rule
    if rule is None or not rule.rule.startswith("/api/v1/"):
        return
    path, method = template(rule.rule), request.method.lower()
    if method == "head":
        return
    SEEN.add((path, method))
    spec = openapi_spec(sender, __version__)
    operation = spec["paths"].get(path, {}).get(method)
    where = f"{request.method} {request.path} -> {response.status_code}"
    if operation is None:
        PROBLEMS.append(f"{where}: the route is not described")
        return
    answer = operation["responses"].get(str(response.status_code))
    if answer is None:
        PROBLEMS.append(f"{where}: status not documented ({sorted(operation['responses'])})")
        return
    content = answer.get("content")
    body = response.get_data()
    if not content:
        if body:
            PROBLEMS.append(f"{where}: a body where none is documented")
        return
    media = response.mimetype
    listed = [m for m in content if fnmatch(media, m)]
    if not listed:
        PROBLEMS.append(f"{where}: media type {media} not among {sorted(content)}")
        return
    if media != "application/json":
        return
    errors = sorted(
        _validator(spec, path, method, str(response.status_code)).iter_errors(response.get_json()),
        key=lambda e: [str(part) for part in e.instance_path],
    )
    for error in errors[:3]:
        at = "/".join(str(p) for p in error.instance_path)
        PROBLEMS.append(f"{where}: at /{at}: {error.message[:300]}")


def _validator(spec: Any, path: str, method: str, status: str) -> Any:
    key = (id(spec), path, method, status)
    if key not in _VALIDATORS:
        answer = spec["paths"][path][method]["responses"][status]
        schema = dict(answer["content"]["application/json"]["schema"])
        schema["components"] = spec["components"]
        _VALIDATORS[key] = jsonschema_rs.validator_for(schema)
    return _VALIDATORS[key]
