"""Optional 64-bit perceptual hashes from imagehash (pHash, dHash).

They are weaker than PDQ and no exchange requires them; some platforms keep
legacy lists of them. Off by default: enable with the `extra_hashers` setting
and install the `perceptual` extra (`pip install 'hma[perceptual]'`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PIL import Image

from hashers.base import Hasher, HashingConfig
from hashers.images import still_pixels
from hashers.media import Media
from hashers.signals import DHASH, PHASH, HexSignalType, Signal


class ImageHashHasher(Hasher):
    media_kinds = frozenset({"image", "animation"})

    def __init__(self, signal_type: HexSignalType, function: Callable[[Image.Image], Any]) -> None:
        self.signal_type = signal_type
        self.function = function

    def hash(self, media: Media, config: HashingConfig) -> Signal:
        image = Image.fromarray(still_pixels(media, config))
        return Signal(type=self.signal_type.name, value=str(self.function(image)))


def perceptual_hashers() -> dict[str, Hasher]:
    """pHash and dHash hashers by signal type name; needs the imagehash package."""
    try:
        import imagehash
    except ImportError as exc:
        raise RuntimeError(
            "pHash/dHash need the imagehash package: pip install 'hma[perceptual]'"
        ) from exc
    return {
        PHASH.name: ImageHashHasher(PHASH, imagehash.phash),
        DHASH.name: ImageHashHasher(DHASH, imagehash.dhash),
    }
