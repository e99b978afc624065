"""The hasher interface: turn identified media into one signal of one type."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from hashers.media import Media, MediaKind, MediaLimits
from hashers.signals import Signal, SignalType


@dataclass(frozen=True)
class HashingConfig:
    """Settings every hasher may consult; built from the app's settings."""

    limits: MediaLimits = field(default_factory=MediaLimits)
    #: PDQ quality (0-100) under which a hash is reported but not matched.
    pdq_quality_min: int = 50
    #: Decode large images at a reduced size where PDQ stays close (see hashers.pdq).
    fast_decode: bool = True
    #: Hash images as people see them, with the EXIF orientation tag applied.
    exif_orientation: bool = True
    #: Trim uniform borders before hashing stills and frames.
    unletterbox: bool = False
    #: Also compute PDQ's seven rotated and flipped variants, for matching such copies.
    dihedral: bool = False
    #: Hash one video frame every this many seconds; 0 hashes every frame.
    video_seconds_per_hash: float = 1.0


class Hasher(ABC):
    """Produces one signal type from the media kinds it understands."""

    signal_type: SignalType
    media_kinds: frozenset[MediaKind]

    @abstractmethod
    def hash(self, media: Media, config: HashingConfig) -> Signal:
        """Fingerprint `media`; raise MediaError when it cannot be decoded."""
