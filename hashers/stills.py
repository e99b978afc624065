"""The hashers of still images (and of an animation's first frame)."""

from __future__ import annotations

from hashers.base import Hasher, HashingConfig
from hashers.images import still_pixels
from hashers.media import Media
from hashers.pdq import pdq_signal
from hashers.signals import PDQ, Signal


class PDQHasher(Hasher):
    signal_type = PDQ
    media_kinds = frozenset({"image", "animation"})

    def hash(self, media: Media, config: HashingConfig) -> Signal:
        return pdq_signal(still_pixels(media, config), config.pdq_quality_min, config.dihedral)
