"""What reviewers are shown of an upload: a reduced copy, and a blurred greyscale preview of it.

The upload itself is not kept. A case keeps at most a copy reduced to
`max_side` pixels on its long side, and the console shows a preview made
from that copy on the server, downscaled further, blurred and greyscale, so
that the browser never receives anything sharper until a reviewer
deliberately reveals it. Videos keep their first decodable frame.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from actioners.models import Case, CaseMedia, CaseOriginal

#: Longest side of the preview; small enough that detail is not legible.
PREVIEW_SIDE = 320
#: Blur radius (pixels of the preview) at the default wellness setting; reviewers
#: may choose between the least and the most, never an unblurred preview.
DEFAULT_BLUR = 12
LEAST_BLUR = 4
MOST_BLUR = 40


def keep_reduced_copy(session: Session, case: Case, data: bytes, max_side: int) -> bool:
    """Store a reduced JPEG of `data` with the case (once); False when none can be made."""
    if max_side <= 0 or case.media is not None:
        return False
    image = _decode(data)
    if image is None:
        return False
    image = ImageOps.exif_transpose(image).convert("RGB")
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    case.media = CaseMedia(
        content_type="image/jpeg", data=out.getvalue(), width=image.width, height=image.height
    )
    session.flush()
    return True


def keep_original(
    session: Session, case: Case, data: bytes, seal: Callable[[bytes], bytes]
) -> None:
    """Keep the upload itself with the case (once), sealed, for its report."""
    if session.scalar(select(CaseOriginal.id).where(CaseOriginal.case_id == case.id)):
        return
    session.add(
        CaseOriginal(
            case_id=case.id,
            sealed=seal(data),
            md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
            sha256=hashlib.sha256(data).hexdigest(),
        )
    )
    session.flush()


def _decode(data: bytes) -> Image.Image | None:
    """The image, or a video's first frame; None for anything else.

    The bytes have already been hashed, so they passed the size and pixel
    limits; decoding again is bounded by the same checks.
    """
    try:
        image = Image.open(io.BytesIO(data))
        image.draft("RGB", (2048, 2048))  # JPEG: decode at a reduced scale
        image.load()
        return image
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        pass
    return _first_video_frame(data)


def _first_video_frame(data: bytes) -> Image.Image | None:
    with tempfile.NamedTemporaryFile(suffix=".video") as handle:
        handle.write(data)
        handle.flush()
        capture = cv2.VideoCapture(handle.name)
        try:
            ok, frame = capture.read()
        finally:
            capture.release()
    if not ok or frame is None:
        return None
    return Image.fromarray(np.ascontiguousarray(frame[:, :, ::-1]))


def preview(media: CaseMedia, blur: int = DEFAULT_BLUR, greyscale: bool = True) -> bytes:
    """The reviewer-safe image: downscaled, blurred and (by default) greyscale, as JPEG."""
    image: Image.Image = Image.open(io.BytesIO(media.data))
    image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.LANCZOS)
    if greyscale:
        image = image.convert("L")
    radius = max(LEAST_BLUR, min(MOST_BLUR, blur))
    image = image.filter(ImageFilter.GaussianBlur(radius))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()
