"""PDQ, the perceptual image hash the industry exchanges, through pdqhash."""

from __future__ import annotations

import numpy as np
import pdqhash

from hashers.base import Hasher, HashingConfig
from hashers.media import Media
from hashers.signals import PDQ, Signal


def pdq_hex(bits: np.ndarray) -> str:
    """The 64-hex-digit form of pdqhash's 256-element bit vector, first bit most significant."""
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


def pdq_from_rgb(pixels: np.ndarray) -> tuple[str, int]:
    """PDQ hash and quality (0-100) of an RGB uint8 array of shape (height, width, 3)."""
    bits, quality = pdqhash.compute(np.ascontiguousarray(pixels, dtype=np.uint8))
    return pdq_hex(bits), int(quality)


class PDQHasher(Hasher):
    signal_type = PDQ
    media_kinds = frozenset({"image"})

    def hash(self, media: Media, config: HashingConfig) -> Signal:
        value, quality = pdq_from_rgb(np.asarray(media.image()))
        return Signal(
            type=PDQ.name,
            value=value,
            quality=quality,
            usable=quality >= config.pdq_quality_min,
        )
