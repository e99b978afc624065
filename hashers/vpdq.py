"""vPDQ: a video as the PDQ hashes of frames sampled every N seconds.

Frame sampling follows the vPDQ reference: with `seconds_per_hash` s and a
frame rate f, frame number n (0-based, in display order) is hashed when
`n % max(1, int(s * f)) == 0`, and its timestamp is `n / f`. So our frame
numbers line up with reference output and can be compared frame by frame.

Exchanges carry the *compact form*: a JSON list of `"pdq_hex,quality,timestamp"`
strings (timestamps to three decimals). The reference's per-frame lines are
`frame_number,quality,pdq_hex,timestamp`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidSignal, MediaError, MediaTooLarge
from hashers.base import Hasher, HashingConfig
from hashers.media import Media
from hashers.pdq import pdq_from_rgb
from hashers.signals import Signal, SignalType
from hashers.video import Frame, FramePlanMismatch, frames

_ENTRY = re.compile(r"([0-9a-f]{64}),(\d{1,3}),(\d+(?:\.\d+)?)")
MAX_COMPACT_FRAMES = 1_000_000


@dataclass(frozen=True)
class FrameHash:
    frame_number: int
    quality: int
    pdq: str
    timestamp: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "frame_number": self.frame_number,
            "quality": self.quality,
            "pdq": self.pdq,
            "timestamp": self.timestamp,
        }

    def compact(self) -> str:
        return f"{self.pdq},{self.quality},{self.timestamp:.3f}"

    def line(self) -> str:
        """The vPDQ reference's line for this frame."""
        return f"{self.frame_number},{self.quality},{self.pdq},{self.timestamp:.3f}"


def compact_form(hashes: Iterable[FrameHash]) -> str:
    return json.dumps([h.compact() for h in hashes])


def parse_compact(value: Any) -> list[tuple[str, int, float]]:
    """(pdq, quality, timestamp) entries of a compact vPDQ value; raises InvalidSignal."""
    if not isinstance(value, str):
        raise InvalidSignal("vpdq value must be a JSON list of 'pdq,quality,timestamp' strings")
    try:
        entries = json.loads(value)
    except ValueError:
        raise InvalidSignal("vpdq value is not valid JSON") from None
    if not isinstance(entries, list) or not entries or len(entries) > MAX_COMPACT_FRAMES:
        raise InvalidSignal("vpdq value must be a non-empty JSON list of frame entries")
    parsed = []
    for entry in entries:
        found = _ENTRY.fullmatch(entry.strip().lower()) if isinstance(entry, str) else None
        if found is None or int(found.group(2)) > 100:
            raise InvalidSignal(
                f"vpdq entry {str(entry)[:80]!r} is not 'pdq_hex,quality,timestamp'"
            )
        parsed.append((found.group(1), int(found.group(2)), float(found.group(3))))
    return parsed


class VPDQSignalType(SignalType):
    name = "vpdq"
    comparison = "frames"
    #: Frame-level PDQ distance at or under which two frames match.
    default_threshold = 31
    #: Two seconds of the PDQ reference photo, one frame hashed a second.
    examples = (
        json.dumps(
            [
                "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22,100,0.000",
                "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22,100,1.000",
            ]
        ),
    )

    def normalize(self, value: str) -> str:
        return json.dumps(
            [f"{pdq},{quality},{ts:.3f}" for pdq, quality, ts in parse_compact(value)]
        )


VPDQ = VPDQSignalType()


class VPDQHasher(Hasher):
    signal_type = VPDQ
    media_kinds = frozenset({"video", "animation"})

    def hash(self, media: Media, config: HashingConfig) -> Signal:
        try:
            hashed = _frame_hashes(frames(media, config), media)
        except FramePlanMismatch:
            hashed = _frame_hashes(frames(media, config, every_packet=True), media)
        if not hashed:
            raise MediaError("the video has no decodable frames", code="corrupt_media")
        return Signal(
            type=VPDQ.name,
            value=compact_form(hashed),
            usable=any(h.quality >= config.pdq_quality_min for h in hashed),
            extra={"frames": [h.to_dict() for h in hashed]},
        )


def _frame_hashes(source: Iterable[Frame], media: Media) -> list[FrameHash]:
    hashed = []
    for frame in source:
        value, quality = pdq_from_rgb(frame.pixels)
        hashed.append(FrameHash(frame.number, quality, value, frame.timestamp))
        if len(hashed) > media.limits.max_video_frames:
            raise MediaTooLarge(
                f"more than {media.limits.max_video_frames} frames to hash; hash fewer"
                " frames per second or raise the limit",
                code="video_too_long",
            )
    return hashed


def reference_lines(signal: Signal) -> list[str]:
    """The vPDQ reference's text lines for a vpdq signal produced by VPDQHasher."""
    return [
        FrameHash(f["frame_number"], f["quality"], f["pdq"], f["timestamp"]).line()
        for f in signal.extra["frames"]
    ]
