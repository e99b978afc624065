"""Which packets of a video to decode when only some of its frames are hashed.

At one frame a second, a 30 fps video hashes one frame in thirty, yet a
decoder handed every packet decodes every frame, and decoding is most of the
cost of a video's vPDQ. Two kinds of work can be left out without changing a
single pixel of the frames that are hashed:

- a frame that no other frame refers to (a non-reference frame: most
  B-frames) is needed only if it is hashed itself, so the decoder is told to
  skip it otherwise;
- after the last hashed frame of a group of pictures nothing is needed until
  the next keyframe, where decoding can start afresh: those packets are not
  sent at all, unless a hashed frame of the next group is shown before its
  keyframe (an open group's leading picture, which may refer back).

Frame numbers stay those of a decoder fed every packet (the vPDQ reference
numbers the frames it is given, in display order): a frame's number is the
rank of its presentation timestamp among the shown frames of the stream. That
holds only where one packet is one frame; the caller checks what the decoder
gives back against the plan and decodes every packet where it differs.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PacketInfo:
    """What demuxing tells of one packet, in decode order, before anything is decoded."""

    pts: int | None
    keyframe: bool
    #: The container drops this frame after decoding (an edit list's pre-roll, say).
    discard: bool = False


@dataclass(frozen=True)
class FramePlan:
    """Per packet in decode order: whether to send it and whether its frame is hashed."""

    send: list[bool]
    hashed: list[bool]
    #: Presentation timestamp to frame number, for every shown frame.
    numbers: dict[int, int]
    #: The numbers of the frames to hash: what the decoder must give back.
    hashed_numbers: frozenset[int]


def plan_decoding(packets: Sequence[PacketInfo], step: int) -> FramePlan | None:
    """The plan for hashing every `step`-th frame; None where timestamps cannot number frames."""
    stamps = [p.pts for p in packets]
    if any(pts is None for pts in stamps) or len(set(stamps)) != len(stamps):
        return None
    timestamps = [pts for pts in stamps if pts is not None]  # all of them, for the type checker
    shown = sorted(pts for pts, p in zip(timestamps, packets, strict=True) if not p.discard)
    numbers = {pts: number for number, pts in enumerate(shown)}
    hashed = [
        not p.discard and numbers[pts] % step == 0
        for pts, p in zip(timestamps, packets, strict=True)
    ]
    send = [False] * len(packets)
    groups = _groups(packets)
    for (start, end), following in zip(groups, [*groups[1:], None], strict=True):
        last = max((i for i in range(start, end) if hashed[i]), default=start - 1)
        if following is not None and _hashes_a_leading_picture(timestamps, hashed, following):
            last = end - 1
        send[start : last + 1] = [True] * (last + 1 - start)
    return FramePlan(
        send=send,
        hashed=hashed,
        numbers=numbers,
        hashed_numbers=frozenset(number for number in numbers.values() if number % step == 0),
    )


def _groups(packets: Sequence[PacketInfo]) -> list[tuple[int, int]]:
    """[start, end) of each group of pictures: a keyframe and what follows it."""
    starts = [i for i, p in enumerate(packets) if p.keyframe and i > 0]
    bounds = [0, *starts, len(packets)]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def _hashes_a_leading_picture(
    timestamps: Sequence[int], hashed: list[bool], group: tuple[int, int]
) -> bool:
    """Whether a hashed frame of the group is shown before the group's keyframe."""
    start, end = group
    return any(hashed[i] and timestamps[i] < timestamps[start] for i in range(start, end))
