"""Frames of videos (decoded by OpenCV) and of animated images (decoded by Pillow).

Frames are decoded and handed on one at a time, so memory stays that of a
single frame whatever the length. Every limit that can be checked from the
header (frame size, claimed duration, frames to hash) is checked before the
first frame is decoded, and again while decoding, because headers lie.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import MediaError, MediaTooLarge
from hashers.base import HashingConfig
from hashers.letterbox import unletterbox
from hashers.media import DECODE_ERRORS, Media, decode_error
from hashers.opencv import cv2
from hashers.pdq import Pixels, align, pdq_scale, reduced_length

#: Animated images may have many tiny frames; decoding more than this many
#: per frame hashed is refused as unreasonable.
MAX_DECODED_PER_HASHED = 100
#: Frame duration assumed for animation frames that declare none (browsers do the same).
DEFAULT_ANIMATION_FRAME_MS = 100


@dataclass(frozen=True)
class Frame:
    number: int
    timestamp: float
    pixels: Pixels


def frames(media: Media, config: HashingConfig) -> Iterator[Frame]:
    """The frames to hash, in order, prepared for PDQ."""
    source = (
        _video_frames(media, config) if media.kind == "video" else _animation_frames(media, config)
    )
    for frame in source:
        yield Frame(frame.number, frame.timestamp, _prepare(frame.pixels, config))


def _prepare(pixels: Pixels, config: HashingConfig) -> Pixels:
    if config.unletterbox:
        pixels = unletterbox(pixels)
    height, width = pixels.shape[:2]
    scale = pdq_scale(width, height) if config.fast_decode else 1
    if scale == 1:
        return pixels
    size = (reduced_length(width, scale), reduced_length(height, scale))
    reduced = np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    return align(reduced, width, height, scale)


def _too_long(message: str) -> MediaTooLarge:
    return MediaTooLarge(message, code="video_too_long")


def _frame_step(config: HashingConfig, fps: float) -> int:
    return max(1, int(config.video_seconds_per_hash * fps))


@contextmanager
def _on_disk(media: Media) -> Iterator[Path]:
    """A path holding the media's bytes: its own, or a private temporary copy."""
    if media.path is not None:
        yield media.path
        return
    handle, name = tempfile.mkstemp(prefix="hma-video-", suffix=f".{media.container}")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(media.data)
        yield Path(name)
    finally:
        os.unlink(name)


def _video_frames(media: Media, config: HashingConfig) -> Iterator[Frame]:
    limits = media.limits
    with _on_disk(media) as path:
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        try:
            if not capture.isOpened():
                raise MediaError(
                    f"the {media.container} file could not be opened as video", code="corrupt_media"
                )
            fps = capture.get(cv2.CAP_PROP_FPS)
            claimed = capture.get(cv2.CAP_PROP_FRAME_COUNT)
            if not math.isfinite(fps) or fps <= 0:
                raise MediaError("the video declares no usable frame rate", code="corrupt_media")
            width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
            media.check_pixels(width, height, "video frame")
            if claimed / fps > limits.max_video_seconds:
                raise _too_long(
                    f"the video claims {claimed / fps:.0f} s, over the limit of"
                    f" {limits.max_video_seconds:.0f} s"
                )
            step = _frame_step(config, fps)
            if claimed / step > limits.max_video_frames:
                raise _too_long(
                    f"hashing one frame in {step} of {claimed:.0f} would exceed the limit of"
                    f" {limits.max_video_frames} frames"
                )
            decode_limit = int(limits.max_video_seconds * fps) + 1
            number = 0
            while capture.grab():
                if number >= decode_limit:
                    raise _too_long(
                        f"the video runs past {limits.max_video_seconds:.0f} s (its header"
                        " understated its length)"
                    )
                if number % step == 0:
                    ok, bgr = capture.retrieve()
                    if ok and bgr is not None:
                        media.check_pixels(bgr.shape[1], bgr.shape[0], "video frame")
                        rgb = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
                        yield Frame(number, round(number / fps, 3), rgb)
                number += 1
        finally:
            capture.release()


def _animation_frames(media: Media, config: HashingConfig) -> Iterator[Frame]:
    limits = media.limits
    every = config.video_seconds_per_hash
    try:
        with media.open_image() as img:
            total = int(getattr(img, "n_frames", 1))
            if total > MAX_DECODED_PER_HASHED * limits.max_video_frames:
                raise _too_long(f"the animation has {total} frames")
            elapsed_ms = 0
            next_sample = 0.0
            for number in range(total):
                img.seek(number)
                seconds = elapsed_ms / 1000
                if seconds > limits.max_video_seconds:
                    raise _too_long(f"the animation runs past {limits.max_video_seconds:.0f} s")
                if every == 0 or seconds >= next_sample:
                    pixels = np.asarray(img.convert("RGB"))
                    yield Frame(number, round(seconds, 3), pixels)
                    if every:
                        next_sample = (math.floor(seconds / every) + 1) * every
                elapsed_ms += int(img.info.get("duration") or DEFAULT_ANIMATION_FRAME_MS)
    except MediaError:
        raise
    except DECODE_ERRORS as exc:
        raise decode_error(exc) from exc
