"""The one path from content to matches to cases.

Every entry point (HTTP, CLI, batch) calls a `Scanner`, so that what counts as
a match, and when a case opens, is decided in exactly one place. The scanner
knows no settings and no processes: the shell (`hma.assembly`) builds it from
the deployment's settings and, in a server, hands it the function that hashes
away from the request's thread.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy.orm import Session

from actioners import cases
from actioners.media import keep_original, keep_reduced_copy
from actioners.models import CaseText
from banks import validation
from banks.lookup import BankIndexes, BankMatch
from banks.taxonomy import Taxonomy
from hashers import HashingConfig, Registry, Signal

#: Signals of one file's bytes (and its path, when it has one); raises HashingError.
HashFunction = Callable[[bytes, "Path | None"], list[Signal]]


@dataclass
class ScanResult:
    signals: list[Signal]
    matches: list[BankMatch] = field(default_factory=list)
    case_id: int | None = None

    def to_dict(self, with_case: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "signals": [s.to_dict() for s in self.signals],
            "matches": [m.to_dict() for m in self.matches],
        }
        if with_case:
            out["case_id"] = self.case_id
        return out


class Scanner:
    """Hashing, matching and case opening, configured once per process.

    `review_media_pixels` is the largest side of the reduced copy a case keeps
    for reviewers (0: none)."""

    def __init__(
        self,
        registry: Registry,
        indexes: BankIndexes,
        taxonomy: Taxonomy,
        hashing: HashingConfig,
        review_media_pixels: int,
        seal_original: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.registry = registry
        self.indexes = indexes
        self.taxonomy = taxonomy
        self.hashing = hashing
        self.review_media_pixels = review_media_pixels
        #: Seals an upload kept to be reported; None: uploads are not kept.
        self.seal_original = seal_original
        self._hash: HashFunction = self._hash_here

    def hash_with(self, function: HashFunction) -> None:
        """From now on, hash with `function` (a server's threads and processes)
        instead of in the caller's thread."""
        self._hash = function

    def _hash_here(self, data: bytes, path: Path | None) -> list[Signal]:
        return self.registry.hash_bytes(data, self.hashing, path)

    def warm_up(self) -> None:
        """Hash a small photo now, so that the first upload finds every decoder and
        kernel loaded (a server does it before forking, for all its workers)."""
        self._hash_here(sample_jpeg(), None)

    def hash(self, data: bytes, path: Path | None = None) -> list[Signal]:
        """Signals of one file's bytes; raises HashingError for bad media."""
        return self._hash(data, path)

    def parse_signals(self, items: Sequence[tuple[str, str]]) -> list[Signal]:
        """Caller-supplied (type, value) pairs, validated and normalised."""
        return [self.registry.parse(kind, value) for kind, value in items]

    def match(self, session: Session, signals: Sequence[Signal]) -> ScanResult:
        queried = list(signals)
        return ScanResult(queried, self.indexes.find(session, queried))

    def scan(
        self,
        session: Session,
        signals: Sequence[Signal],
        content_ref: str,
        metadata: dict[str, Any] | None = None,
        media: bytes | None = None,
        text: str | None = None,
    ) -> ScanResult:
        """Match, then open or extend the review case for `content_ref`.

        With the upload's bytes, a case also keeps a reduced copy for
        reviewers' previews (as the `review_media_pixels` setting allows);
        with a post's text, the text.
        """
        content_ref = cases.validate_content_ref(content_ref)
        metadata = validation.metadata(metadata)
        result = self.match(session, signals)
        return self.record(session, result, content_ref, metadata, media, text)

    def record(
        self,
        session: Session,
        result: ScanResult,
        content_ref: str,
        metadata: dict[str, Any] | None = None,
        media: bytes | None = None,
        text: str | None = None,
    ) -> ScanResult:
        """Open or extend the review case for `content_ref` with `result`'s matches.

        For callers that filter matches before they count (HMA's API drops the
        banks its coin flip left out); everyone else calls `scan`.
        """
        content_ref = cases.validate_content_ref(content_ref)
        case = cases.record_matches(
            session, content_ref, result.matches, metadata, taxonomy=self.taxonomy
        )
        if case is not None and media is not None:
            keep_reduced_copy(session, case, media, self.review_media_pixels)
            if self.seal_original is not None:
                keep_original(session, case, media, self.seal_original)
        if case is not None and text and case.text is None:
            case.text = CaseText(text=text)
        result.case_id = case.id if case is not None else None
        return result


def sample_jpeg() -> bytes:
    """A small photo-like JPEG: hashing it loads every decoder and table an upload needs."""
    out = io.BytesIO()
    Image.linear_gradient("L").convert("RGB").save(out, "JPEG")
    return out.getvalue()
