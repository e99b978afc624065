"""Reading what callers send: JSON bodies, uploaded files, URLs and signal lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import request

from banks import validation
from hashers import Signal
from hma import fetch
from hma.web.context import services
from hma.web.errors import ApiError


def json_object() -> dict[str, Any]:
    """The request body as a JSON object, or a 400 saying what is wrong with it."""
    if not request.is_json:
        raise ApiError(415, "unsupported_content_type", "send a JSON body (application/json)")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return body


def optional_bool(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise ApiError(400, "invalid_field", f"{key} must be true or false")
    return value


def optional_text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise ApiError(400, "invalid_field", f"{key} must be a string")
    return value


def int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "invalid_paging", f"{name} must be an integer") from None


@dataclass
class ContentInput:
    """What a hash, match or scan request is about, plus its accompanying fields."""

    signals: list[Signal]
    fields: dict[str, Any]
    #: The media's bytes, when media (not signals) was sent.
    data: bytes | None = None


def uploaded_bytes() -> bytes:
    upload = request.files.get("file")
    if upload is None:
        raise ApiError(400, "missing_file", "send the content as a multipart field named 'file'")
    return upload.read()


def content_input(allow_signals: bool) -> ContentInput:
    """Signals of a multipart `file`, of JSON `{"url"}`, or JSON `{"signals"}` if allowed."""
    scanner = services().scanner
    if request.mimetype == "multipart/form-data":
        fields: dict[str, Any] = dict(request.form)
        if "metadata" in fields:
            fields["metadata"] = validation.metadata_text(fields["metadata"])
        data = uploaded_bytes()
        return ContentInput(scanner.hash(data), fields, data)
    body = json_object()
    if "url" in body:
        settings = services().settings
        data = fetch.fetch(
            services().exchanges.engine.egress,
            body["url"],
            max_bytes=settings.max_upload_bytes,
            timeout=settings.fetch_timeout_seconds,
        )
        return ContentInput(scanner.hash(data), body, data)
    if allow_signals and "signals" in body:
        return ContentInput(signal_list(body["signals"]), body)
    wanted = "a multipart 'file', or JSON with 'url'" + (" or 'signals'" if allow_signals else "")
    raise ApiError(400, "missing_input", f"send {wanted}")


def signal_list(items: Any) -> list[Signal]:
    """`[{"type": ..., "value": ...}, ...]`, validated and normalised."""
    if not isinstance(items, list) or not items:
        raise ApiError(400, "invalid_signals", "signals must be a non-empty list")
    pairs = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise ApiError(400, "invalid_signals", 'each signal is {"type": ..., "value": ...}')
        pairs.append((item["type"], item.get("value")))
    return services().scanner.parse_signals(pairs)
