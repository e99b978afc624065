"""Frames of videos (decoded by FFmpeg, through PyAV) and of animated images (by Pillow).

Frames are decoded and handed on one at a time, so memory stays that of a
single frame whatever the length. Every limit is checked before the first
frame is decoded, from the header's claims and then from the packets
themselves (read without decoding them), and frame sizes again while
decoding, because headers lie. A video is read from memory: an upload is
never written to a temporary file to be decoded.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import MediaError, MediaTooLarge, ProjectError
from hashers.base import HashingConfig
from hashers.frame_plan import FramePlan, PacketInfo, plan_decoding
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


def frames(media: Media, config: HashingConfig, every_packet: bool = False) -> Iterator[Frame]:
    """The frames to hash, in order, prepared for PDQ.

    A video's frames are decoded by plan (see `hashers.frame_plan`); where the
    decoder gives back other frames than planned, FramePlanMismatch is raised,
    possibly after some frames, and the caller asks again with every_packet.
    """
    source = (
        _video_frames(media, config, every_packet)
        if media.kind == "video"
        else _animation_frames(media, config)
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


class FramePlanMismatch(ProjectError):
    """The decoder gave back other frames than the plan said: decode every packet instead."""


@contextmanager
def _opened(media: Media) -> Iterator[Any]:
    """The media's container, opened by FFmpeg (through PyAV) from disk or from memory."""
    import av  # here, so that only the processes that hash video load FFmpeg's libraries

    source = str(media.path) if media.path is not None else io.BytesIO(media.data)
    try:
        container = av.open(source, mode="r")
    except av.FFmpegError as exc:
        raise MediaError(
            f"the {media.container} file could not be opened as video", code="corrupt_media"
        ) from exc
    try:
        if not container.streams.video:
            raise MediaError(f"the {media.container} file has no video", code="corrupt_media")
        yield container
    finally:
        container.close()


def _packets(container: Any) -> Iterator[Any]:
    """The video stream's packets in decode order, ending quietly where the file is damaged."""
    import av

    stream = container.streams.video[0]
    try:
        for packet in container.demux(stream):
            if packet.size:
                yield packet
    except av.FFmpegError:
        return


def _decoded(codec: Any, packet: Any) -> list[Any]:
    """The frames a packet completes (None flushes); a packet that does not decode gives none."""
    import av

    try:
        return list(codec.decode(packet))
    except av.FFmpegError:
        return []


def _checked_stream(media: Media, container: Any, config: HashingConfig) -> tuple[float, int]:
    """The frame rate and the frame step, once the header's claims are within the limits."""
    limits = media.limits
    stream = container.streams.video[0]
    fps = float(stream.guessed_rate or 0)
    if not math.isfinite(fps) or fps <= 0:
        raise MediaError("the video declares no usable frame rate", code="corrupt_media")
    media.check_pixels(stream.codec_context.width, stream.codec_context.height, "video frame")
    # The track's duration and its frame count at its frame rate: either may be the one that lies.
    claimed = max(
        float(stream.duration * stream.time_base) if stream.duration else 0.0,
        (stream.frames or 0) / fps,
    )
    if claimed > limits.max_video_seconds:
        raise _too_long(
            f"the video claims {claimed:.0f} s, over the limit of {limits.max_video_seconds:.0f} s"
        )
    return fps, _frame_step(config, fps)


def _packet_infos(media: Media, container: Any, fps: float, step: int) -> list[PacketInfo]:
    """Every packet's timestamp and flags, read without decoding, within the limits."""
    limits = media.limits
    decode_limit = int(limits.max_video_seconds * fps) + 1
    infos: list[PacketInfo] = []
    for packet in _packets(container):
        if len(infos) >= decode_limit:
            raise _too_long(
                f"the video runs past {limits.max_video_seconds:.0f} s (its header"
                " understated its length)"
            )
        infos.append(PacketInfo(packet.pts, packet.is_keyframe, packet.is_discard))
    if len(infos) / step > limits.max_video_frames:
        raise _too_long(
            f"hashing one frame in {step} of {len(infos)} would exceed the limit of"
            f" {limits.max_video_frames} frames"
        )
    return infos


def _video_frames(media: Media, config: HashingConfig, every_packet: bool) -> Iterator[Frame]:
    with _opened(media) as container:
        fps, step = _checked_stream(media, container, config)
        infos = _packet_infos(media, container, fps, step)
    plan = None if every_packet else plan_decoding(infos, step)
    with _opened(media) as container:
        given: list[int] = []
        shown = 0
        for frame in _decode(container, plan, infos):
            if plan is None:
                number, shown = shown, shown + 1
            elif (number := plan.numbers.get(frame.pts, -1)) < 0:
                raise FramePlanMismatch(f"a frame at {frame.pts} that no packet announced")
            if number % step:
                continue
            media.check_pixels(frame.width, frame.height, "video frame")
            given.append(number)
            yield Frame(number, round(number / fps, 3), _upright_rgb(frame))
        if plan is not None and set(given) != plan.hashed_numbers:
            raise FramePlanMismatch("the decoder did not give back the frames planned")


def _decode(container: Any, plan: FramePlan | None, infos: list[PacketInfo]) -> Iterator[Any]:
    """The decoded frames, in display order, of the packets the plan sends (all without one)."""
    codec = container.streams.video[0].codec_context
    codec.thread_type = "AUTO"  # frame and slice threads, one per core
    skipped = False
    for index, packet in enumerate(_packets(container)):
        if plan is not None:
            if index >= len(infos) or packet.pts != infos[index].pts:
                raise FramePlanMismatch("the second reading of the file gave other packets")
            if not plan.send[index]:
                skipped = True
                continue
            if skipped:
                # Start afresh at the keyframe, as after a seek (an open group's keyframe
                # is not shown after a gap otherwise), once the frames held back are out.
                yield from _decoded(codec, None)
                codec.flush_buffers()
                skipped = False
            # Read by the decoder with each packet, so it can change from one to the next.
            codec.skip_frame = "DEFAULT" if plan.hashed[index] else "NONREF"
        yield from _decoded(codec, packet)
    yield from _decoded(codec, None)


def _upright_rgb(frame: Any) -> Pixels:
    """The frame's RGB pixels, turned as its display matrix says (as phones record portrait)."""
    rgb = frame.to_ndarray(format="rgb24")
    quarter_turns = round((frame.rotation or 0) / 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, quarter_turns)) if quarter_turns else rgb


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
