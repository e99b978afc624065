"""Decoding a still (or an animation's first frame) into the pixels perceptual hashers use.

The pixels are the image as people see it (EXIF orientation applied, unless
configured off), optionally with uniform borders trimmed, and, on the fast
path, decoded at a reduced size chosen by `hashers.pdq.pdq_scale`: JPEGs are
reduced by the decoder itself (DCT scaling, so the full image is never
materialised), other formats by box averaging after decoding.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from hashers.base import HashingConfig
from hashers.letterbox import content_box
from hashers.media import DECODE_ERRORS, Media, decode_error
from hashers.pdq import Pixels, align, pdq_scale, reduced_length

_DCT_SCALED_FORMATS = ("JPEG", "MPO")


def _decode(media: Media, config: HashingConfig) -> tuple[Image.Image, int, int, int]:
    """The RGB image, its reduction scale and the full-resolution size as displayed."""
    with media.open_image() as img:
        width, height = img.size
        scale = pdq_scale(width, height) if config.fast_decode else 1
        wanted = (reduced_length(width, scale), reduced_length(height, scale))
        if scale > 1 and img.format in _DCT_SCALED_FORMATS:
            img.draft("RGB", wanted)
        img.load()
        rgb = img.convert("RGB")
    if scale > 1 and rgb.size != wanted:
        rgb = rgb.reduce(scale)
    if config.exif_orientation:
        upright = ImageOps.exif_transpose(rgb)
        if upright.size != rgb.size:  # rotated by a quarter turn
            width, height = height, width
        rgb = upright
    return rgb, scale, width, height


def still_pixels(media: Media, config: HashingConfig) -> Pixels:
    """RGB pixels ready for PDQ, decoded once per upload and shared by the hashers."""
    cached: Pixels | None = media.cache.get("still_pixels")
    if cached is not None:
        return cached
    try:
        image, scale, full_width, full_height = _decode(media, config)
    except DECODE_ERRORS as exc:
        raise decode_error(exc) from exc
    pixels: Pixels = np.asarray(image)
    if config.unletterbox:
        top, bottom, left, right = content_box(pixels)
        if (top, bottom, left, right) != (0, pixels.shape[0], 0, pixels.shape[1]):
            pixels = pixels[top:bottom, left:right]
            full_width, full_height = pixels.shape[1] * scale, pixels.shape[0] * scale
    if scale > 1:
        pixels = align(pixels, full_width, full_height, scale)
    pixels = np.ascontiguousarray(pixels)
    media.cache["still_pixels"] = pixels
    return pixels
