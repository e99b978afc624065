"""Hashing, matching and scanning uploads: the ingest routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from core.names import Role
from hma.web.api import api
from hma.web.context import db_session, read_session, services
from hma.web.inputs import content_input
from hma.web.schemas import ContentBody, HashResult, MatchResult, ScanResult, UploadForm
from hma.web.typed import View, endpoint


def _ingest(summary: str, result: type) -> Callable[[View], View]:
    """The declaration the three ingest routes share: media or signals in, `result` out."""
    return endpoint(
        summary,
        role=Role.INGEST,
        body=ContentBody,
        form=UploadForm,
        responses={200: result},
        errors={
            400: "The media cannot be hashed, a signal is invalid, or nothing was sent",
            413: "The upload, or the media at `url`, is over a size, pixel or length limit",
        },
    )


@api.post("/hash")
@_ingest("Hash an upload, or the media at a URL", HashResult)
def hash_content(body: ContentBody | UploadForm) -> HashResult:
    found = content_input(body, allow_signals=False)
    return cast(HashResult, {"signals": [s.to_dict() for s in found.signals]})


@api.post("/match")
@_ingest("Hash and look up, opening no case", MatchResult)
def match_content(body: ContentBody | UploadForm) -> MatchResult:
    found = content_input(body, allow_signals=True)
    result = services().scanner.match(read_session(), found.signals)
    return cast(MatchResult, result.to_dict(with_case=False))


@api.post("/scan")
@_ingest("Hash, look up, and open or join the upload's review case", ScanResult)
def scan_content(body: ContentBody | UploadForm) -> ScanResult:
    found = content_input(body, allow_signals=True)
    session = db_session()
    result = services().scanner.scan(
        session,
        found.signals,
        content_ref=found.content_ref,  # type: ignore[arg-type]
        metadata=found.metadata,
        media=found.data,
        text=found.text,
    )
    session.commit()
    return cast(ScanResult, result.to_dict(with_case=True))
