"""What a hash, match or scan request is about: an upload, media at a URL, or signals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from banks import validation
from hashers import Signal
from hma import fetch
from hma.web.context import services
from hma.web.errors import ApiError
from hma.web.schemas import ContentBody, SignalIn, UploadForm


@dataclass
class ContentInput:
    """The signals a request is about, and the fields that came with them."""

    signals: list[Signal]
    content_ref: str | None = None
    metadata: dict[str, Any] | None = None
    #: The media's bytes, when media (not signals) was sent.
    data: bytes | None = None


def content_input(body: ContentBody | UploadForm, allow_signals: bool) -> ContentInput:
    """Hash the upload or the media at `url`; or take `signals`, where allowed."""
    scanner = services().scanner
    if isinstance(body, UploadForm):
        metadata = validation.metadata_text(body.metadata)
        return ContentInput(scanner.hash(body.file), body.content_ref, metadata, body.file)
    if body.url is not None:
        settings = services().settings
        data = fetch.fetch(
            services().exchanges.engine.egress,
            body.url,
            max_bytes=settings.max_upload_bytes,
            timeout=settings.fetch_timeout_seconds,
        )
        return ContentInput(scanner.hash(data), body.content_ref, body.metadata, data)
    if allow_signals and body.signals is not None:
        return ContentInput(parse_signals(body.signals), body.content_ref, body.metadata)
    wanted = "a multipart 'file', or JSON with 'url'" + (" or 'signals'" if allow_signals else "")
    raise ApiError(400, "missing_input", f"send {wanted}")


def parse_signals(items: list[SignalIn]) -> list[Signal]:
    """Validated and normalised by their signal types."""
    return services().scanner.parse_signals([(item.type, item.value) for item in items])
