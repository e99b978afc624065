"""What a hash, match or scan request is about: an upload, media at a URL, or signals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from banks import validation
from hashers import Signal
from hashers.posts import AccountRef, Post, post_signals
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
    #: The post's text, when one was sent (kept with a case for review).
    text: str | None = None


def content_input(body: ContentBody | UploadForm, allow_signals: bool) -> ContentInput:
    """Hash the upload or the media at `url`, or take `signals`, where allowed; and,
    where allowed, a post's text, links and accounts beside or instead of them."""
    scanner = services().scanner
    post = _post(body) if allow_signals else Post()
    extra = [] if post.empty else post_signals(post, services().settings.max_text_bytes)
    text = post.text if extra else None
    if isinstance(body, UploadForm):
        metadata = validation.metadata_text(body.metadata)
        signals = scanner.hash(body.file) + extra
        return ContentInput(signals, body.content_ref, metadata, body.file, text)
    if body.url is not None:
        data = services().fetcher.fetch(body.url)
        return ContentInput(scanner.hash(data) + extra, body.content_ref, body.metadata, data, text)
    if allow_signals and (body.signals is not None or extra):
        signals = parse_signals(body.signals or []) + extra
        return ContentInput(signals, body.content_ref, body.metadata, text=text)
    wanted = "a multipart 'file', or JSON with 'url'" + (
        ", 'signals', 'text', 'urls' or 'accounts'" if allow_signals else ""
    )
    raise ApiError(400, "missing_input", f"send {wanted}")


def _post(body: ContentBody | UploadForm) -> Post:
    if isinstance(body, UploadForm):
        return Post(text=body.text)
    accounts = [AccountRef(a.type, a.value) for a in body.accounts or ()]
    return Post(text=body.text, urls=body.urls or (), accounts=accounts)


def parse_signals(items: list[SignalIn]) -> list[Signal]:
    """Validated and normalised by their signal types."""
    return services().scanner.parse_signals([(item.type, item.value) for item in items])
