"""The one path from content to matches to cases.

Every entry point (HTTP, CLI, batch) calls these functions, so that what
counts as a match, and when a case opens, is decided in exactly one place.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy.orm import Session

from actioners import cases
from actioners.media import keep_reduced_copy
from actioners.models import CaseText
from banks import validation
from banks.lookup import BankIndexes, BankMatch, MatchConfig
from banks.taxonomy import Taxonomy
from core.errors import SettingsError, TaxonomyError
from hashers import Registry, Signal, default_registry
from hashers.account_keys import ACCOUNT_KEYS
from hashers.media import video_container
from hma.hashing_pool import HashingPool, HashingThreads
from hma.settings import Settings


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
    """Hashing, matching and case opening, configured once per process."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        indexes: BankIndexes,
        taxonomy: Taxonomy | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.indexes = indexes
        self.taxonomy = taxonomy or load_taxonomy(settings)
        self._videos: HashingPool | None = None
        self._images: HashingThreads | None = None

    def hash_apart(self, threads: int, processes: int) -> None:
        """From now on, hash images in `threads` threads and videos in `processes` child
        processes (started at the first video), each at a lower CPU priority than the
        caller (see hma.hashing_pool)."""
        self._images = HashingThreads(self.registry, self.settings.hashing, threads)
        self._videos = HashingPool(self.settings, processes)

    def warm_up(self) -> None:
        """Hash a small photo now, so that the first upload finds every decoder and
        kernel loaded (a server does it before forking, for all its workers)."""
        self.registry.hash_bytes(sample_jpeg(), self.settings.hashing)

    def hash(self, data: bytes, path: Path | None = None) -> list[Signal]:
        """Signals of one file's bytes; raises HashingError for bad media."""
        if self._videos is not None and video_container(data) is not None:
            return self._videos.hash(data, path)
        if self._images is not None:
            return self._images.hash(data, path)
        return self.registry.hash_bytes(data, self.settings.hashing, path)

    def parse_signals(self, items: Sequence[tuple[str, str]]) -> list[Signal]:
        """Caller-supplied (type, value) pairs, validated and normalised."""
        return [self.registry.parse(kind, value) for kind, value in items]

    def match(self, session: Session, signals: Sequence[Signal]) -> ScanResult:
        return ScanResult(list(signals), self.indexes.find(session, signals))

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
            keep_reduced_copy(session, case, media, self.settings.review_media_pixels)
        if case is not None and text and case.text is None:
            case.text = CaseText(text=text)
        result.case_id = case.id if case is not None else None
        return result


def sample_jpeg() -> bytes:
    """A small photo-like JPEG: hashing it loads every decoder and table an upload needs."""
    out = io.BytesIO()
    Image.linear_gradient("L").convert("RGB").save(out, "JPEG")
    return out.getvalue()


def load_taxonomy(settings: Settings) -> Taxonomy:
    """The program taxonomy these settings name; an unreadable one is a settings error."""
    try:
        return Taxonomy.load(settings.taxonomy_file or None)
    except TaxonomyError as exc:
        raise SettingsError(str(exc)) from exc


def build_registry(settings: Settings) -> Registry:
    """The hashers these settings ask for; a bad `extra_hashers` is a settings error.

    Also gives the process its account keys, which account signals are keyed with."""
    ACCOUNT_KEYS.configure(settings.account_key_secrets)
    try:
        return default_registry(extra_hashers=settings.extra_hasher_names)
    except (ValueError, RuntimeError) as exc:
        raise SettingsError(f"setting extra_hashers: {exc}") from exc


def match_config(settings: Settings) -> MatchConfig:
    return MatchConfig(
        thresholds={"pdq": settings.pdq_match_threshold, "vpdq": settings.pdq_match_threshold},
        quality_min=settings.pdq_quality_min,
        video_query_share=settings.video_query_match_percent / 100,
        video_bank_share=settings.video_bank_match_percent / 100,
        snapshot_dir=settings.data_dir / "indexes",
        snapshot_interval=settings.index_snapshot_seconds,
    )


def build_scanner(settings: Settings, registry: Registry | None = None) -> Scanner:
    registry = registry or build_registry(settings)
    return Scanner(settings, registry, BankIndexes(registry, match_config(settings)))
