"""Decoding a still (or an animation's first frame) into the pixels perceptual hashers use.

The pixels are the image as people see it (EXIF orientation applied, unless
configured off), optionally with uniform borders trimmed, and, on the fast
path, decoded at a reduced size chosen by `hashers.pdq.pdq_scale`: JPEGs are
reduced by the decoder itself (DCT scaling, so the full image is never
materialised), other formats by box averaging after decoding.
"""

from __future__ import annotations

import numpy as np
from PIL import ExifTags, ImageOps

from hashers.base import HashingConfig
from hashers.letterbox import content_box
from hashers.media import DECODE_ERRORS, Media, decode_error
from hashers.opencv import cv2
from hashers.pdq import Pixels, align, pdq_scale, reduced_length

_DCT_SCALED_FORMATS = ("JPEG", "MPO")
_ORIENTATION = ExifTags.Base.Orientation
#: OpenCV's reduced decodes by scale, and its flag to leave the EXIF orientation alone.
_CV_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4}
_CV_REDUCED[8] = cv2.IMREAD_REDUCED_COLOR_8
#: EXIF orientations that turn an image by a quarter (its width becomes its height).
_QUARTER_TURNS = frozenset({5, 6, 7, 8})


def _decode(media: Media, config: HashingConfig) -> tuple[Pixels, int, int, int]:
    """The RGB pixels, their reduction scale and the full-resolution size as displayed.

    Colour JPEGs, most uploads, are decoded by OpenCV: the same libjpeg-turbo
    and the same pixels as Pillow, into one array, in two thirds of the time
    (Pillow decodes into its own memory, and its pixels are copied twice on the
    way to an array). Everything else goes through Pillow, which knows every
    mode and format we accept.
    """
    with media.open_image() as img:
        width, height = img.size
        scale = pdq_scale(width, height) if config.fast_decode else 1
        wanted = (reduced_length(width, scale), reduced_length(height, scale))
        if img.format in _DCT_SCALED_FORMATS and img.mode == "RGB":
            orientation = img.getexif().get(_ORIENTATION, 1) if config.exif_orientation else 1
            if orientation in _QUARTER_TURNS:
                width, height = height, width
            return _decode_colour_jpeg(media.data, scale, config), scale, width, height
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
    return np.asarray(rgb), scale, width, height


def _decode_colour_jpeg(data: bytes, scale: int, config: HashingConfig) -> Pixels:
    flags = _CV_REDUCED[scale]
    if not config.exif_orientation:
        flags |= cv2.IMREAD_IGNORE_ORIENTATION
    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    if decoded is None:
        raise OSError("the JPEG data is truncated or damaged")
    return np.asarray(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def still_pixels(media: Media, config: HashingConfig) -> Pixels:
    """RGB pixels ready for PDQ, decoded once per upload and shared by the hashers."""
    cached: Pixels | None = media.cache.get("still_pixels")
    if cached is not None:
        return cached
    try:
        pixels, scale, full_width, full_height = _decode(media, config)
    except DECODE_ERRORS as exc:
        raise decode_error(exc) from exc
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
