"""Identifying uploads and opening them safely, within limits.

Uploads are untrusted. `Media` refuses empty input, enforces byte and pixel
limits *before* pixels are allocated, tells stills from animations from video
containers by their signatures, and turns the many exceptions decoders raise
into a `MediaError` with a stable code. Decoding itself happens in the
hashers that need pixels (`hashers.images`, `hashers.video`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from PIL import Image, UnidentifiedImageError

from core.errors import MediaError, MediaTooLarge

MediaKind = Literal["image", "animation", "video"]

Image.init()  # register every plugin now, so the format list below can be checked
#: Image formats accepted from uploads (those this Pillow build can read).
#: Formats without a reliable signature (TGA, for one) are left out so that
#: arbitrary bytes are never "decoded" as an image.
IMAGE_FORMATS = tuple(
    f for f in ("JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF") if f in Image.OPEN
)

#: Leading bytes of the accepted image formats, to tell a damaged image from a non-image.
_IMAGE_SIGNATURES = (
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
)

#: Box types that can open an ISO base media file (MP4, MOV, 3GP, M4V).
_ISO_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")


def video_container(data: bytes) -> str | None:
    """The container a file's signature names, or None if it is not a known video container."""
    if data[4:8] in _ISO_BOXES:
        return "mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if data.startswith(b"RIFF") and data[8:12] == b"AVI ":
        return "avi"
    if data.startswith(b"FLV\x01"):
        return "flv"
    if data.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "asf"
    if data.startswith(b"\x00\x00\x01\xba"):
        return "mpeg"
    if len(data) > 376 and data[0] == data[188] == data[376] == 0x47:
        return "mpegts"
    return None


def _has_image_signature(data: bytes) -> bool:
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return True
    return data.startswith(_IMAGE_SIGNATURES)


@dataclass(frozen=True)
class MediaLimits:
    """Bounds on what one upload may cost to decode and hash."""

    max_bytes: int = 50 * 1024 * 1024
    #: Width x height of an image or of one video frame.
    max_pixels: int = 100_000_000
    #: Duration a video's header may claim, checked before decoding.
    max_video_seconds: float = 3 * 3600
    #: Frames hashed from one video or animation.
    max_video_frames: int = 20_000


class Media:
    """One upload's bytes, what kind of media they are, and how to open them."""

    def __init__(
        self, data: bytes, limits: MediaLimits | None = None, path: Path | None = None
    ) -> None:
        self.limits = limits or MediaLimits()
        if not data:
            raise MediaError("the file is empty", code="empty_file")
        if len(data) > self.limits.max_bytes:
            raise MediaTooLarge(
                f"the file is {len(data)} bytes, over the limit of {self.limits.max_bytes}",
                code="file_too_large",
            )
        self.data = data
        #: Where the bytes live on disk, if they do (video decoders read files).
        self.path = path
        #: Decoded forms shared by several hashers of this upload, by name.
        self.cache: dict[str, Any] = {}
        self.container = video_container(data)
        self.kind: MediaKind = "video" if self.container else self._identify_image()

    def _identify_image(self) -> MediaKind:
        try:
            with self.open_image() as probe:
                width, height = probe.size
                animated = bool(getattr(probe, "is_animated", False))
        except MediaError:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            if _has_image_signature(self.data):
                raise MediaError(
                    "the file starts like an image but its header is damaged",
                    code="corrupt_media",
                ) from exc
            raise MediaError(
                "the file is neither a video nor an image format we accept"
                f" ({', '.join(IMAGE_FORMATS)})",
                code="unsupported_media",
            ) from exc
        self.check_pixels(width, height, "image")
        return "animation" if animated else "image"

    def check_pixels(self, width: int, height: int, what: str) -> None:
        if width * height > self.limits.max_pixels:
            raise MediaTooLarge(
                f"the {what} is {width}x{height} pixels, over the limit of"
                f" {self.limits.max_pixels} pixels",
                code="image_too_large",
            )

    def open_image(self) -> Image.Image:
        """A lazily decoded Pillow image (header read, pixels not yet)."""
        try:
            return Image.open(io.BytesIO(self.data), formats=IMAGE_FORMATS)
        except Image.DecompressionBombError as exc:
            # Pillow's own guard, a backstop behind our limit; its message has the size.
            raise MediaTooLarge(
                f"the image is too large to decode: {exc}", code="image_too_large"
            ) from exc


def decode_error(exc: BaseException) -> MediaError:
    """The error for pixel data that does not decode (truncated or damaged files)."""
    return MediaError(f"the media could not be decoded: {exc}", code="corrupt_media")


#: Exceptions decoders raise on damaged input.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)
