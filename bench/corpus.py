"""A corpus of natural photographs at realistic sizes, made from real photos.

Sources are the photographs scikit-image ships in its wheel, plus the shared
reference photos when the project's shared data is present. Each output image
is a random 3:2 (or 4:3) crop covering 60-100% of a source, resized to the
target size with Lanczos and saved as a JPEG at quality 80-95, as a camera or
an upload pipeline would. Seeds are fixed, so the corpus is the same each run.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"
SKIMAGE_PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "hubble_deep_field.jpg",
    "camera.png",
    "brick.png",
    "grass.png",
    "gravel.png",
)
SHARED_PHOTOS = (
    "exif-orientation/exif-rotn-1.jpg",
    "exif-orientation/exif-rotn-3.jpg",
    "exif-orientation/exif-rotn-6.jpg",
    "dihedral/bridge-1-original.jpg",
    "pdq-reference/c.png",
)


def source_photos() -> list[tuple[str, Image.Image]]:
    try:
        import skimage
    except ImportError as exc:
        raise SystemExit("the corpus needs scikit-image: pip install -e '.[bench]'") from exc
    folder = Path(skimage.__file__).parent / "data"
    photos = [(name, Image.open(folder / name).convert("RGB")) for name in SKIMAGE_PHOTOS]
    photos += [
        (name, Image.open(SHARED / name).convert("RGB"))
        for name in SHARED_PHOTOS
        if (SHARED / name).exists()
    ]
    return photos


def make_corpus(size: tuple[int, int], count: int, seed: int = 7) -> list[bytes]:
    """`count` JPEGs of `size` (width, height)."""
    rng = np.random.default_rng(seed)
    photos = source_photos()
    width, height = size
    aspect = width / height
    out = []
    for i in range(count):
        _, photo = photos[i % len(photos)]
        crop_w = min(photo.width, int(photo.height * aspect))
        crop_h = int(crop_w / aspect)
        share = rng.uniform(0.6, 1.0)
        crop_w, crop_h = int(crop_w * share), int(crop_h * share)
        left = int(rng.integers(0, photo.width - crop_w + 1))
        top = int(rng.integers(0, photo.height - crop_h + 1))
        image = photo.crop((left, top, left + crop_w, top + crop_h)).resize(
            size, Image.Resampling.LANCZOS
        )
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=int(rng.integers(80, 96)))
        out.append(buffer.getvalue())
    return out
