"""`/h/hash`, and the hashing of URLs and uploads every HMA route shares.

HMA hashes a `photo` into PDQ (an empty string when the image is too flat
to trust) and a `video` into the MD5 of its bytes. Media at a URL is fetched
through our guarded client, so on top of HMA's host allow-list nothing
internal is reached (unless the operator allowed it), redirects included.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flask import Response, request
from pydantic import BaseModel
from werkzeug.datastructures import FileStorage

from banks.egress import parse_target
from banks.hma_vocabulary import CONTENT_TYPES
from core.errors import (
    EgressRefused,
    HashingError,
    MediaTooLarge,
    UrlFetchFailed,
    UrlNotAllowed,
)
from hma.web.context import services
from hma.web.hma_api import answer, fail, hma_api, validated


@dataclass
class Hashed:
    """What one piece of media hashed into, by HMA's signal type names."""

    content_type: str
    signals: dict[str, str]
    data: bytes


class HashQuery(BaseModel):
    url: str
    content_type: str | None = None
    types: str | None = None


@hma_api.get("/h/hash")
def hash_url_route() -> Response:
    """Hash the media at a URL."""
    query = validated(HashQuery, request.args.to_dict())
    return answer(hash_url(query.url, query.content_type, query.types).signals)


@hma_api.post("/h/hash")
def hash_upload_route() -> Response:
    """Hash an uploaded file; its field name (`photo`, `video`) is its content type."""
    return answer(hash_upload(request.args.get("types")).signals)


def hash_url(url: str, content_type: str | None, types: str | None) -> Hashed:
    """Fetch and hash, with HMA's checks and texts."""
    if not _acceptable(url):
        fail(400, "Invalid or unsafe URL provided")
    try:
        limit = services().settings.hma_api_max_remote_file_bytes
        fetched = services().fetcher.fetch_response(url, limit)
    except UrlNotAllowed:
        fail(400, "Invalid or unsafe URL provided")
    except MediaTooLarge:
        fail(413, "Content too large")
    except UrlFetchFailed as exc:
        fail(400, f"Failed to fetch URL: {exc.message}")
    if not content_type:
        header = fetched.headers.get("content-type", "")
        content_type = _sniffed(header)
        if content_type is None:
            fail(
                400,
                f"unsupported url ContentType: {header!r}, if you know the expected type,"
                " provide it with the content_type query param",
            )
    return hash_media(fetched.body, content_type, types)


def hash_upload(types: str | None) -> Hashed:
    """The one uploaded file, hashed as the content type its field names."""
    uploads: list[tuple[str, FileStorage]] = list(request.files.items(multi=True))
    if not uploads:
        fail(400, "Missing multipart/form-data file upload")
    if len(uploads) > 1:
        fail(400, "Only one file allowed per request")
    field, upload = uploads[0]
    return hash_media(upload.read(), field, types)


def hash_media(data: bytes, content_type: str, types: str | None) -> Hashed:
    if content_type not in CONTENT_TYPES:
        fail(400, f"no such content_type: {content_type!r}")
    wanted = _selected(content_type, types)
    signals: dict[str, str] = {}
    if "video_md5" in wanted:
        # HMA's video hash is the MD5 of the bytes as sent: nothing is decoded.
        signals["video_md5"] = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if "pdq" in wanted:
        signals["pdq"] = _pdq(data)
    return Hashed(content_type, signals, data)


def _pdq(data: bytes) -> str:
    try:
        hashed = services().scanner.hash(data)
    except HashingError as exc:
        fail(400, f"the photo cannot be hashed: {exc.message}")
    pdq = next((s for s in hashed if s.type == "pdq"), None)
    if pdq is None:
        fail(400, "the photo cannot be hashed: it is not a still image")
    # A hash too flat to trust is reported empty, as HMA does (quality under the minimum).
    return pdq.value if pdq.usable else ""


def _selected(content_type: str, types: str | None) -> tuple[str, ...]:
    offered = CONTENT_TYPES[content_type]
    if types is None or types == "":
        return offered
    names = [name.strip() for name in types.split(",") if name.strip()]
    if not names:
        fail(400, "empty signal type selection")
    for name in names:
        if name not in offered:
            fail(400, f"signal type '{name}' doesn't exist or is disabled")
    return tuple(name for name in offered if name in names)


def _sniffed(header: str) -> str | None:
    kind = header.lower()
    if kind.startswith("image"):
        return "photo"
    if kind.startswith("video"):
        return "video"
    return None


def _acceptable(url: str) -> bool:
    """HMA's URL rules: http(s) with a host, no user or password, and on the operator's
    host list when there is one (a host or any host under it). The host is read as the
    connection will read it (`parse_target`), so no spelling passes the list and
    connects elsewhere."""
    try:
        host = parse_target(url).host
    except EgressRefused:
        return False
    allowed = services().settings.hma_api_allowed_hosts_list
    if not allowed:
        return True
    return any(host == name or host.endswith("." + name) for name in allowed)
