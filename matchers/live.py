"""Live updates for indexes made of immutable segments plus a small delta.

Every index here stores, per id, one fixed-width row of uint64 words (a PDQ
hash is four words, an exact-match key two, a pHash one). Rows live in
immutable *segments*, searchable by whatever structure the index builds, plus
a *delta* of recent additions that queries scan linearly. Removing an id sets
a tombstone bit. Both changes are visible to the next query, and nothing is
rebuilt for them.

When the delta or the tombstones grow past a limit, a background thread
rebuilds all live rows into fresh segments while queries and updates carry on;
updates made meanwhile are journalled and replayed onto the result before it
replaces the old segments. Snapshots are directories of .npy files, loaded
memory-mapped so that several processes on a host share one copy.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

IdArray = npt.NDArray[np.int64]
Rows = npt.NDArray[np.uint64]
Bits = npt.NDArray[np.uint8]

#: Recent additions kept in the delta before a compaction folds them into segments.
DELTA_LIMIT = 65_536
#: Share of removed rows a segment may carry before it is compacted away.
DEAD_LIMIT = 0.2
#: Rows per segment; a segment's structure may need positions to fit a fixed width.
MAX_SEGMENT = 1 << 24


def as_ids(ids: Any) -> IdArray:
    array = np.asarray(ids)
    if array.ndim != 1:
        raise ValueError("ids must be a one-dimensional array")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError("ids must be integers")
    return array.astype(np.int64, copy=False)


def last_of_each_id(ids: IdArray, rows: Rows) -> tuple[IdArray, Rows]:
    """Drop earlier repeats of an id: the last row given for it wins, as if added in order."""
    if ids.size < 2 or bool(np.all(ids[1:] > ids[:-1])):
        return ids, rows
    _, last = np.unique(ids[::-1], return_index=True)
    keep = np.sort(ids.size - 1 - last)
    return ids[keep], rows[keep]


def narrow_ids(ids: IdArray) -> npt.NDArray[Any]:
    """Ids as uint32 when they all fit (4 bytes a row saved), else as int64."""
    if ids.size and (ids.min() < 0 or ids.max() > np.iinfo(np.uint32).max):
        return ids
    return ids.astype(np.uint32)


def dead_bits(count: int) -> Bits:
    return np.zeros((count + 7) // 8, dtype=np.uint8)


def set_dead(bits: Bits, positions: IdArray) -> None:
    np.bitwise_or.at(bits, positions >> 3, (1 << (positions & 7)).astype(np.uint8))


def is_dead(bits: Bits, positions: IdArray) -> npt.NDArray[np.bool_]:
    return np.asarray((bits[positions >> 3] >> (positions & 7).astype(np.uint8)) & 1, dtype=bool)


class Segment(ABC):
    """An immutable block of rows sorted by id; only its tombstones change."""

    #: The arrays a snapshot stores, besides `ids`, `rows` and `dead`.
    structure: ClassVar[tuple[str, ...]] = ()

    def __init__(self, ids: npt.NDArray[Any], rows: Rows, dead: Bits) -> None:
        self.ids = ids
        self.rows = rows
        self.dead = dead
        self.live = len(ids) - int(np.unpackbits(dead, count=len(ids)).sum())

    @classmethod
    @abstractmethod
    def build(cls, ids: IdArray, rows: Rows) -> Self:
        """A segment over `ids` (sorted, unique) and their rows."""

    @classmethod
    @abstractmethod
    def from_arrays(cls, arrays: dict[str, Any], meta: dict[str, Any]) -> Self:
        """A segment from a snapshot's arrays (possibly memory-mapped) and metadata."""

    def meta(self) -> dict[str, Any]:
        """What `from_arrays` needs besides the arrays."""
        return {}

    def with_dead(self, dead: Bits) -> Self:
        """The same segment with other tombstones (the rest is shared, not copied)."""
        arrays = {name: getattr(self, name) for name in ("ids", "rows", *self.structure)}
        return self.from_arrays(arrays | {"dead": dead}, self.meta())

    def kill(self, ids: IdArray) -> None:
        """Tombstone the given ids where present (`ids` sorted)."""
        if not len(self.ids) or not len(ids):
            return
        at = np.searchsorted(self.ids, ids)
        inside = at < len(self.ids)
        at, wanted = at[inside], ids[inside]
        hit = at[self.ids[at].astype(np.int64) == wanted].astype(np.int64)
        fresh = hit[~is_dead(self.dead, hit)]
        if fresh.size:
            set_dead(self.dead, fresh)
            self.live -= fresh.size

    def live_items(self) -> tuple[IdArray, Rows]:
        alive = ~is_dead(self.dead, np.arange(len(self.ids), dtype=np.int64))
        return self.ids[alive].astype(np.int64), self.rows[alive]


@dataclass(frozen=True)
class DeltaView:
    """What a query sees of the delta: arrays and how many of their rows are in use."""

    ids: IdArray
    rows: Rows
    dead: Bits
    count: int


class Delta:
    """Recent additions, appended in place; queries scan them linearly, or, for an
    index that looks rows up by their first word (`keyed`), through `by_first`."""

    def __init__(self, width: int, keyed: bool = False) -> None:
        self.view = DeltaView(
            np.empty(0, np.int64), np.empty((0, width), np.uint64), dead_bits(0), 0
        )
        self.slots: dict[int, int] = {}
        #: Positions by the row's first word. Appended to after the rows are
        #: written; a query ignores positions past its view's count.
        self.by_first: dict[int, list[int]] | None = {} if keyed else None

    @property
    def live(self) -> int:
        return len(self.slots)

    def append(self, ids: IdArray, rows: Rows) -> None:
        view = self.view
        needed = view.count + len(ids)
        if needed > len(view.ids):
            capacity = max(1024, needed, 2 * len(view.ids))
            grown = DeltaView(
                np.empty(capacity, np.int64),
                np.empty((capacity, view.rows.shape[1]), np.uint64),
                dead_bits(capacity),
                view.count,
            )
            grown.ids[: view.count] = view.ids[: view.count]
            grown.rows[: view.count] = view.rows[: view.count]
            grown.dead[: len(view.dead)] = view.dead
            view = grown
        view.ids[view.count : needed] = ids
        view.rows[view.count : needed] = rows
        # Rows are written before the new count is published: no query sees a half row.
        self.view = DeltaView(view.ids, view.rows, view.dead, needed)
        for offset, item in enumerate(ids.tolist()):
            self.slots[item] = view.count + offset
        if self.by_first is not None:
            for offset, first in enumerate(rows[:, 0].tolist()):
                self.by_first.setdefault(first, []).append(view.count + offset)

    def kill(self, ids: IdArray) -> None:
        slots = [self.slots.pop(item) for item in ids.tolist() if item in self.slots]
        if slots:
            set_dead(self.view.dead, np.array(slots, dtype=np.int64))

    def live_items(self) -> tuple[IdArray, Rows]:
        view = self.view
        positions = np.arange(view.count, dtype=np.int64)
        alive = positions[~is_dead(view.dead, positions)]
        return view.ids[alive], view.rows[alive]


Journal = list[tuple[str, IdArray, Rows]]


class LiveIndex(ABC):
    """Segments plus delta plus tombstones, with background compaction; thread-safe."""

    segment_type: ClassVar[type[Segment]]
    #: uint64 words per row.
    width: ClassVar[int]
    #: Identifies snapshots of this index type.
    snapshot_format: ClassVar[str]
    #: Whether the delta keeps its rows' positions by first word (`Delta.by_first`).
    keyed_delta: ClassVar[bool] = False

    def __init__(self) -> None:
        #: Segments and delta, swapped together: a query reads both from one moment.
        self._state: tuple[tuple[Segment, ...], Delta] = (
            (),
            Delta(self.width, self.keyed_delta),
        )
        self._lock = threading.RLock()
        self._journal: Journal | None = None
        self._compactor: threading.Thread | None = None
        #: Start compactions in the background when limits are passed (off: call compact()).
        self.auto_compact = True

    @classmethod
    def from_rows(cls, ids: IdArray, rows: Rows) -> Self:
        if ids.size != rows.shape[0]:
            raise ValueError("ids and values must have the same length")
        index = cls()
        index._state = (index._build_segments(*last_of_each_id(ids, rows)), index._delta)
        return index

    @property
    def _segments(self) -> tuple[Segment, ...]:
        return self._state[0]

    @property
    def _delta(self) -> Delta:
        return self._state[1]

    def __len__(self) -> int:
        return sum(s.live for s in self._segments) + self._delta.live

    # Updates --------------------------------------------------------------------

    def add_rows(self, ids: IdArray, rows: Rows) -> None:
        """Insert rows; an id already present is replaced. Visible to the next query."""
        if ids.size != rows.shape[0]:
            raise ValueError("ids and values must have the same length")
        ids, rows = last_of_each_id(ids, rows)
        with self._lock:
            self._apply("add", ids, rows, self._segments, self._delta)
            if self._journal is not None:
                self._journal.append(("add", ids, rows))
        self._maybe_compact()

    def remove(self, ids: Any) -> None:
        """Forget `ids`; unknown ids are ignored. Visible to the next query."""
        gone = np.unique(as_ids(ids))
        with self._lock:
            self._apply("remove", gone, None, self._segments, self._delta)
            if self._journal is not None:
                self._journal.append(("remove", gone, np.empty((0, self.width), np.uint64)))
        self._maybe_compact()

    @staticmethod
    def _apply(
        op: str, ids: IdArray, rows: Rows | None, segments: tuple[Segment, ...], delta: Delta
    ) -> None:
        ordered = np.sort(ids)
        for segment in segments:
            segment.kill(ordered)
        delta.kill(ids)
        if op == "add" and rows is not None:
            delta.append(ids, rows)

    # Compaction -----------------------------------------------------------------

    def _build_segments(self, ids: IdArray, rows: Rows) -> tuple[Segment, ...]:
        if len(ids) > 1 and not np.all(ids[1:] > ids[:-1]):
            order = np.argsort(ids, kind="stable")
            ids, rows = ids[order], rows[order]
        return tuple(
            self.segment_type.build(
                ids[start : start + MAX_SEGMENT],
                np.ascontiguousarray(rows[start : start + MAX_SEGMENT]),
            )
            for start in range(0, len(ids), MAX_SEGMENT)
        )

    def needs_compaction(self) -> bool:
        total = sum(len(s.ids) for s in self._segments)
        dead = total - sum(s.live for s in self._segments)
        return self._delta.view.count > DELTA_LIMIT or (total > 0 and dead > DEAD_LIMIT * total)

    def _maybe_compact(self) -> None:
        if not self.auto_compact or not self.needs_compaction():
            return
        with self._lock:
            if self._compactor is not None and self._compactor.is_alive():
                return
            self._compactor = threading.Thread(
                target=self.compact, daemon=True, name=f"{type(self).__name__}-compaction"
            )
            self._compactor.start()

    def compact(self) -> None:
        """Rebuild every live row into fresh segments; updates continue meanwhile."""
        with self._lock:
            if self._journal is not None:
                return  # a compaction is already running
            self._journal = []
            # Tombstones change in place: copy them so the rebuild sees one moment.
            frozen = [s.with_dead(s.dead.copy()) for s in self._segments]
            parts = [self._delta.live_items()]
        try:
            parts += [s.live_items() for s in frozen]
            rebuilt = self._build_segments(
                np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
            )
        except BaseException:
            with self._lock:
                self._journal = None
            raise
        with self._lock:
            fresh = Delta(self.width, self.keyed_delta)
            for op, ids, rows in self._journal:
                self._apply(op, ids, rows if op == "add" else None, rebuilt, fresh)
            self._state, self._journal = (rebuilt, fresh), None

    def wait_for_compaction(self) -> None:
        """Block until a running background compaction finishes."""
        thread = self._compactor
        if thread is not None:
            thread.join()

    # Snapshots ------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write a snapshot directory that `load` memory-maps; replaces `path` atomically."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            segments = [s.with_dead(s.dead.copy()) for s in self._segments]
            delta_ids, delta_rows = self._delta.live_items()
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            meta: dict[str, Any] = {"format": self.snapshot_format, "segments": []}
            for number, segment in enumerate(segments):
                for name in ("ids", "rows", "dead", *segment.structure):
                    np.save(
                        staging / f"segment-{number}.{name}.npy",
                        getattr(segment, name),
                        allow_pickle=False,
                    )
                meta["segments"].append(segment.meta())
            np.save(staging / "delta.ids.npy", delta_ids, allow_pickle=False)
            np.save(staging / "delta.rows.npy", delta_rows, allow_pickle=False)
            (staging / "index.json").write_text(json.dumps(meta))
            replace_directory(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Open a snapshot; large arrays are memory-mapped, tombstones are private copies."""
        source = Path(path)
        try:
            meta = json.loads((source / "index.json").read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path} is not a {cls.__name__} snapshot") from exc
        if meta.get("format") != cls.snapshot_format:
            raise ValueError(f"{path} is not a {cls.__name__} snapshot ({meta.get('format')!r})")
        index = cls()
        segments = []
        for number, segment_meta in enumerate(meta["segments"]):
            names = ("ids", "rows", "dead", *cls.segment_type.structure)
            arrays = {
                name: np.load(
                    source / f"segment-{number}.{name}.npy", mmap_mode="r", allow_pickle=False
                )
                for name in names
            }
            arrays["dead"] = np.array(arrays["dead"])
            segments.append(cls.segment_type.from_arrays(arrays, segment_meta))
        index._state = (tuple(segments), index._delta)
        delta_ids = np.load(source / "delta.ids.npy", allow_pickle=False)
        if len(delta_ids):
            index._delta.append(delta_ids, np.load(source / "delta.rows.npy", allow_pickle=False))
        return index


def replace_directory(staging: Path, target: Path) -> None:
    """Put `staging` at `target`, removing what was there."""
    if target.exists():
        retired = target.with_name(f".{target.name}.old-{os.getpid()}-{threading.get_ident()}")
        os.replace(target, retired)
        os.replace(staging, target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, target)
