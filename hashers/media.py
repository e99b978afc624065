"""Decoding uploads safely: identify what the bytes are, decode within limits.

Uploads are untrusted. Every decode goes through `Media`, which refuses empty
input, enforces byte and pixel limits *before* pixels are allocated, and turns
the many exceptions decoders raise into a `MediaError` with a stable code.
The decoded image is cached so that several hashers share one decode.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

from hashers.errors import MediaError, MediaTooLarge

MediaKind = Literal["image"]

Image.init()  # register every plugin now, so the format list below can be checked
#: Image formats accepted from uploads (those this Pillow build can read).
#: Formats without a reliable signature (TGA, for one) are left out so that
#: arbitrary bytes are never "decoded" as an image.
IMAGE_FORMATS = tuple(
    f for f in ("JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF") if f in Image.OPEN
)


#: Leading bytes of the accepted formats, to tell a damaged image from a non-image.
_SIGNATURES = (
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
)


def _has_image_signature(data: bytes) -> bool:
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return True
    return data.startswith(_SIGNATURES)


@dataclass(frozen=True)
class MediaLimits:
    """Bounds on what a single upload may cost to decode."""

    max_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 100_000_000


class Media:
    """One upload's bytes and, once asked for, its decoded forms."""

    def __init__(self, data: bytes, limits: MediaLimits | None = None) -> None:
        self.limits = limits or MediaLimits()
        if not data:
            raise MediaError("the file is empty", code="empty_file")
        if len(data) > self.limits.max_bytes:
            raise MediaTooLarge(
                f"the file is {len(data)} bytes, over the limit of {self.limits.max_bytes}",
                code="file_too_large",
            )
        self.data = data
        self._image: Image.Image | None = None
        self.kind: MediaKind = self._identify()

    def _identify(self) -> MediaKind:
        try:
            with self._open_image() as probe:
                width, height = probe.size
        except MediaError:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            if _has_image_signature(self.data):
                raise MediaError(
                    "the file starts like an image but its header is damaged",
                    code="corrupt_media",
                ) from exc
            raise MediaError(
                f"the file is not an image format we accept ({', '.join(IMAGE_FORMATS)})",
                code="unsupported_media",
            ) from exc
        if width * height > self.limits.max_pixels:
            raise MediaTooLarge(
                f"the image is {width}x{height} pixels, over the limit of"
                f" {self.limits.max_pixels} pixels",
                code="image_too_large",
            )
        return "image"

    def _open_image(self) -> Image.Image:
        try:
            return Image.open(io.BytesIO(self.data), formats=IMAGE_FORMATS)
        except Image.DecompressionBombError as exc:
            raise MediaTooLarge(str(exc), code="image_too_large") from exc

    def image(self) -> Image.Image:
        """The image as people see it: EXIF orientation applied, RGB pixels.

        Raises MediaError with code `corrupt_media` when the header parses but
        the pixel data does not (truncated or damaged files).
        """
        if self._image is None:
            try:
                with self._open_image() as img:
                    img.load()
                    upright = ImageOps.exif_transpose(img)
                    self._image = upright.convert("RGB")
            except MediaError:
                raise
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise MediaError(
                    f"the image could not be decoded: {exc}", code="corrupt_media"
                ) from exc
        return self._image
