"""PDQ, the perceptual image hash the industry exchanges, through pdqhash.

Hashing fewer pixels is the main lever on speed: pdqhash's cost is linear in
the pixel count. Reducing an image changes PDQ's result unless two of PDQ's
own size-dependent choices are preserved:

* its blur window, `ceil(n / 128)` pixels per axis, must scale with the image,
  so a reduction by `s` is only used where `s * window(n / s)` stays within
  `WINDOW_TOLERANCE` of `window(n)` on both axes, and the reduced image keeps
  at least `MIN_REDUCED_SIDE` pixels on its short side;
* its 64 sample points, `int((i + 0.5) * n / 64)` after two box passes that
  each centre half a pixel right, land at different places in the reduced
  image; `phase_offset` computes how far, and `align` shifts the reduced
  pixels by that fraction of a pixel (a bilinear translation, about a
  millisecond at these sizes).

Reduced pixels come from the JPEG decoder's DCT scaling or from box averaging,
both of which make reduced pixel `k` the mean of full pixels `s*k .. s*k+s-1`.
See docs/benchmarks.md for the drift this leaves against full resolution.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pdqhash

from hashers.opencv import cv2
from hashers.signals import PDQ, Signal

Pixels = npt.NDArray[np.uint8]

SCALES = (8, 4, 2)
MIN_REDUCED_SIDE = 500
WINDOW_TOLERANCE = 1.07

#: Names of pdqhash's eight dihedral variants, in its order.
DIHEDRAL_VARIANTS = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flipx",
    "flipy",
    "flip_plus1",
    "flip_minus1",
)


def _window(length: int) -> int:
    """PDQ's Jarosz box-filter window for an axis of `length` pixels (downsampled to 64)."""
    return (length + 127) // 128


def reduced_length(length: int, scale: int) -> int:
    return -(-length // scale)


def pdq_scale(width: int, height: int) -> int:
    """The largest reduction (1, 2, 4 or 8) whose PDQ stays close to full resolution."""
    for scale in SCALES:
        sides = [(length, reduced_length(length, scale)) for length in (width, height)]
        if min(reduced for _, reduced in sides) < MIN_REDUCED_SIDE:
            continue
        if all(
            scale * _window(reduced) <= WINDOW_TOLERANCE * _window(length)
            for length, reduced in sides
        ):
            return scale
    return 1


def phase_offset(length: int, scale: int) -> float:
    """Reduced pixels to shift by so that PDQ samples where it would at full resolution.

    At full resolution sample `i` sees a kernel centred on full pixel
    `int((i + 0.5) * length / 64) + 1`; in the reduced image the kernel is at
    reduced pixel `int((i + 0.5) * reduced / 64) + 1`, whose centre is full
    pixel `scale * k + (scale - 1) / 2`. The mean difference, in reduced
    pixels, is the shift.
    """
    if scale == 1:
        return 0.0
    reduced = reduced_length(length, scale)
    centres = np.arange(64) + 0.5
    full = np.floor(centres * length / 64) + 1
    ours = np.floor(centres * reduced / 64) + 1
    return float(np.mean((full - (scale - 1) / 2) / scale - ours))


def align(pixels: Pixels, full_width: int, full_height: int, scale: int) -> Pixels:
    """Reduced pixels translated so that PDQ's sample grid matches full resolution.

    out[y, x] = pixels[y + dy, x + dx], bilinear, edges repeated.
    """
    dx, dy = phase_offset(full_width, scale), phase_offset(full_height, scale)
    if dx == dy == 0:
        return pixels
    shift = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    moved = cv2.warpAffine(
        pixels,
        shift,
        (pixels.shape[1], pixels.shape[0]),
        flags=flags,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return np.asarray(moved, dtype=np.uint8)


def _hex(bits: npt.NDArray[np.integer]) -> str:
    """The 64-hex-digit form of pdqhash's 256-element bit vector, first bit most significant."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def pdq_from_rgb(pixels: Pixels) -> tuple[str, int]:
    """PDQ hash and quality (0-100) of RGB uint8 pixels of shape (height, width, 3)."""
    bits, quality = pdqhash.compute(np.ascontiguousarray(pixels, dtype=np.uint8))
    return _hex(bits), int(quality)


def pdq_dihedral_from_rgb(pixels: Pixels) -> tuple[dict[str, str], int]:
    """The eight rotation/flip variants from one luma pass, by name, and the quality."""
    hashes, quality = pdqhash.compute_dihedral(np.ascontiguousarray(pixels, dtype=np.uint8))
    return {name: _hex(bits) for name, bits in zip(DIHEDRAL_VARIANTS, hashes, strict=True)}, int(
        quality
    )


def pdq_signal(pixels: Pixels, quality_min: int, dihedral: bool = False) -> Signal:
    """The PDQ signal of prepared pixels; with `dihedral`, its variants ride along."""
    extra: dict[str, Any] = {}
    if dihedral:
        variants, quality = pdq_dihedral_from_rgb(pixels)
        value = variants.pop("original")
        extra["variants"] = variants
    else:
        value, quality = pdq_from_rgb(pixels)
    return Signal(PDQ.name, value, quality=quality, usable=quality >= quality_min, extra=extra)
