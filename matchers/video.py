"""Video matching: a video is a bag of PDQ frame hashes.

Every bank video's frames go into one PDQIndex, under frame ids that carry
the video's id (`video_id << FRAME_BITS | frame`), so a frame hit names its
video without a lookup table. A query video's frames are looked up through
that index, never compared with each video by brute force. As in the vPDQ
reference, frames under the quality minimum are ignored and repeated frame
hashes count once. For each bank video hit, two shares are reported: of the
query's frames that matched any of its frames, and of its frames matched by
any of the query's. A match needs both shares at or over their thresholds:
80% and 0% by default, the vPDQ reference's choice, so that a short clip
cut from a long banked video still matches it.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hashers.vpdq import parse_compact
from matchers.base import Hit
from matchers.live import replace_directory
from matchers.pdq import PDQIndex, hashes_from_hex

#: Frame ids are (video id << FRAME_BITS) | frame number among the video's unique frames.
FRAME_BITS = 20
MAX_FRAMES = 1 << FRAME_BITS
MAX_VIDEO_ID = (1 << (63 - FRAME_BITS)) - 1


class VideoIndex:
    """Bank videos by their vPDQ frames; thread-safe."""

    def __init__(
        self, quality_min: int = 50, query_share: float = 0.8, bank_share: float = 0.0
    ) -> None:
        self.frames = PDQIndex()
        self.quality_min = quality_min
        self.query_share = query_share
        self.bank_share = bank_share
        self._frame_counts: dict[int, int] = {}
        self._lock = threading.Lock()

    def _usable_frames(self, value: str) -> list[str]:
        """Distinct frame hashes of at least the minimum quality, in order."""
        seen: dict[str, None] = {}
        for pdq, quality, _ in parse_compact(value):
            if quality >= self.quality_min:
                seen.setdefault(pdq)
        return list(seen)

    def add_values(self, ids: Sequence[int], values: Sequence[str]) -> None:
        for video_id, value in zip(ids, values, strict=True):
            if not 0 <= video_id <= MAX_VIDEO_ID:
                raise ValueError(f"video ids must be from 0 to {MAX_VIDEO_ID}")
            frames = self._usable_frames(value)[:MAX_FRAMES]
            self.remove([video_id])
            if not frames:
                continue
            frame_ids = (np.int64(video_id) << FRAME_BITS) + np.arange(len(frames))
            self.frames.add(frame_ids, hashes_from_hex(frames))
            with self._lock:
                self._frame_counts[int(video_id)] = len(frames)

    def remove(self, ids: Sequence[int]) -> None:
        for video_id in ids:
            with self._lock:
                count = self._frame_counts.pop(int(video_id), 0)
            if count:
                self.frames.remove((np.int64(video_id) << FRAME_BITS) + np.arange(count))

    def __len__(self) -> int:
        return len(self._frame_counts)

    def save(self, path: str | Path) -> None:
        """A snapshot directory: the frame index and each video's frame count."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            with self._lock:
                counts = np.array(sorted(self._frame_counts.items()), dtype=np.int64)
            self.frames.save(staging / "frames")
            np.save(staging / "videos.npy", counts.reshape(-1, 2), allow_pickle=False)
            replace_directory(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    @classmethod
    def load(cls, path: str | Path, **options: Any) -> VideoIndex:
        source = Path(path)
        index = cls(**options)
        index.frames = PDQIndex.load(source / "frames")
        try:
            counts = np.load(source / "videos.npy", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path} is not a VideoIndex snapshot") from exc
        index._frame_counts = {int(v): int(n) for v, n in counts}
        return index

    def lookup(self, values: Sequence[str], threshold: int) -> list[list[Hit]]:
        """For each query video, the bank videos whose frames match enough of it.

        `threshold` is the PDQ distance at which two frames match; a hit's
        distance is the closest frame pair's.
        """
        return [self._lookup_one(value, threshold) for value in values]

    def _lookup_one(self, value: str, threshold: int) -> list[Hit]:
        frames = self._usable_frames(value)
        if not frames:
            return []
        matched_query: dict[int, set[int]] = {}
        matched_bank: dict[int, set[int]] = {}
        closest: dict[int, int] = {}
        for number, found in enumerate(self.frames.query_many(hashes_from_hex(frames), threshold)):
            for frame_id, distance in found:
                video_id = frame_id >> FRAME_BITS
                matched_query.setdefault(video_id, set()).add(number)
                matched_bank.setdefault(video_id, set()).add(frame_id)
                closest[video_id] = min(distance, closest.get(video_id, distance))
        hits: list[tuple[float, Hit]] = []
        for video_id, query_frames in matched_query.items():
            with self._lock:
                bank_frames = self._frame_counts.get(video_id)
            if not bank_frames:
                continue
            query_share = len(query_frames) / len(frames)
            bank_share = len(matched_bank[video_id]) / bank_frames
            if query_share >= self.query_share and bank_share >= self.bank_share:
                detail = {
                    "query_match_percent": round(100 * query_share, 1),
                    "bank_match_percent": round(100 * bank_share, 1),
                }
                hits.append((query_share, Hit(video_id, closest[video_id], detail)))
        hits.sort(key=lambda pair: (-pair[0], pair[1].distance, pair[1].id))
        return [hit for _, hit in hits]
