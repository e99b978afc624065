"""Matching signals against every enabled bank, through in-memory indexes.

The indexes hold signal row ids only; the database stays the truth. A lookup
first applies any change-log entries the process has not seen, then asks the
indexes for candidates, then reads the candidates' bank and content rows,
dropping anything disabled or deleted in the meantime and applying each bank's
own threshold. So an index that lags can cost a match for an instant, but it
can never invent one.

A process starts from the newest snapshot on disk, if there is one, and
catches up from the change log; with none it builds from the tables. Fresh
snapshots are written in the background when enough time has passed and
something changed, so a restart never has to read every signal again.

Without a follower, each lookup first reads the log itself (a query per
lookup, and always current). A server instead starts `follow()`: a thread
polls the log a few times a second and lookups read nothing but their
candidates, so a change committed anywhere is matchable everywhere within
one poll, and a change this process commits is applied at once (`poke()`).
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import struct
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import CursorResult, bindparam, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from banks import changelog, filelock
from banks.models import Bank, BankContent, BankSignal
from core.errors import UnknownSignalType
from hashers import Registry, Signal, SignalType
from hashers.account_keys import AccountKeys, is_keyed
from hashers.signals import KEYWORD
from matchers import ExactIndex, SignalIndex, index_for, load_index
from matchers.live import LiveIndex

log = logging.getLogger(__name__)

BUILD_CHUNK = 50_000
#: What a build reads: the signals in a range of ids, and which content is disabled.
_BUILD_RANGE = select(
    BankSignal.id, BankSignal.content_id, BankSignal.signal_type, BankSignal.value
).where(BankSignal.id.between(bindparam("first"), bindparam("last")))
_DISABLED_CONTENT = select(BankContent.id).where(~BankContent.enabled)
_LAST_SIGNAL = select(func.coalesce(func.max(BankSignal.id), 0))
#: Change-log entries read and applied at a time. Reading rows holds the GIL
#: until they are all in; in small runs, lookups on other threads of the
#: process go on between them while a large sync lands.
CATCH_UP_CHUNK = 5_000
SNAPSHOT_STATE = "state.json"
#: Held by the one process of a host writing the snapshot.
SNAPSHOT_WRITER = ".writer.lock"
#: The file in the snapshot directory through which a host's processes tell
#: each other of urgent changes.
HOST_STAMP = ".changed"
SNAPSHOT_FORMAT = 2


@dataclass(frozen=True)
class MatchConfig:
    """How lookups match: distances, video shares, and where snapshots live."""

    #: Match distance by signal type; types not named use their own default.
    thresholds: dict[str, int] = field(default_factory=dict)
    quality_min: int = 50
    video_query_share: float = 0.8
    video_bank_share: float = 0.0
    snapshot_dir: Path | None = None
    #: Minimum seconds between background snapshots (0: only after a full build).
    snapshot_interval: float = 600.0


@dataclass(frozen=True)
class BankMatch:
    bank: str
    bank_id: int
    content_id: int
    signal_id: int
    signal_type: str
    #: The bank's value, and the queried value that matched it.
    signal: str
    query_signal: str
    distance: int
    tags: list[str] = field(default_factory=list)
    #: The rotation or flip of the query that matched (dihedral PDQ), if not the original.
    variant: str | None = None
    #: Matcher-specific facts (a video match's shares of matched frames).
    detail: dict[str, float] | None = None
    #: The queried signal's quality (PDQ's 0-100), when it has one.
    quality: int | None = None
    #: The bank's share of HMA-API lookups (read with the match, for that API's coin flip).
    matching_ratio: float = 1.0
    #: What the bank value equalled when it covers the queried one: the URL
    #: expression or parent domain looked up.
    expression: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "bank": self.bank,
            "content_id": self.content_id,
            "signal_type": self.signal_type,
            "signal": self.signal,
            "distance": self.distance,
            "tags": list(self.tags),
        }
        if self.variant is not None:
            out["variant"] = self.variant
        if self.expression is not None:
            out["expression"] = self.expression
        if self.expression is not None or is_keyed(self.variant):
            out["query_signal"] = self.query_signal
        if self.signal_type == KEYWORD.name:
            out["found"] = self.query_signal
        if self.detail:
            out.update(self.detail)
        return out


@dataclass(frozen=True)
class Candidate:
    """A bank signal near a queried one, and whether it matched (`reason` says why not)."""

    signal_type: str
    query_signal: str
    bank: str
    content_id: int
    signal: str
    distance: int
    #: The threshold that decided: the bank's own, or the deployment's.
    threshold: int
    reason: str

    @property
    def matched(self) -> bool:
        return not self.reason


def _queries(kind: SignalType, signal: Signal, keys: AccountKeys) -> list[tuple[str, str | None]]:
    """(value, variant) pairs to look up for a signal: the values its type says cover
    it (a URL's expressions), then any variants computed with it (PDQ's rotations
    and flips), then a keyable value's keyed hashes under each of `keys`."""
    variants: dict[str, str] = dict(signal.extra.get("variants", {}))
    if kind.keyable:
        variants |= keys.variants(signal.value)
    return [(value, None) for value in kind.lookup_values(signal.value)] + [
        (value, name) for name, value in variants.items()
    ]


#: What a lookup reads of its candidates, built once: on every lookup that hits,
#: building the statement and running it through the ORM cost more than the query.
_CANDIDATES = (
    select(
        BankSignal.id,
        BankSignal.bank_id,
        BankSignal.content_id,
        BankSignal.signal_type,
        BankSignal.value,
        BankContent.tags,
        Bank.name,
        Bank.thresholds,
        Bank.matching_ratio,
    )
    .join(BankContent, BankSignal.content_id == BankContent.id)
    .join(Bank, BankSignal.bank_id == Bank.id)
    .where(BankSignal.id.in_(bindparam("ids", expanding=True)), BankContent.enabled, Bank.enabled)
)


@dataclass(frozen=True)
class _Candidate:
    query_value: str
    variant: str | None
    distance: int
    detail: dict[str, float] | None
    quality: int | None
    expression: str | None


def _widest_thresholds(banks: Iterable[Mapping[str, int]]) -> dict[str, int]:
    widest: dict[str, int] = {}
    for thresholds in banks:
        for signal_type, threshold in thresholds.items():
            widest[signal_type] = max(threshold, widest.get(signal_type, 0))
    return widest


class BankIndexes:
    """One index per signal type for this process, kept current from the change log."""

    def __init__(self, registry: Registry, config: MatchConfig | None = None) -> None:
        self.registry = registry
        self.config = config or MatchConfig()
        self._indexes: dict[str, SignalIndex] = {}
        self._unindexable: set[str] = set()
        self._applied = 0
        self._built = False
        self._lock = threading.Lock()
        self._snapshot_lock = threading.Lock()
        self._snapshot_at = time.monotonic()
        self._snapshot_change = -1
        #: Personal types that lost values since the last snapshot: compacted before
        #: the next, which is due at once, so their keys leave the disk.
        self._purge: set[str] = set()
        #: The widest threshold of any enabled bank, by signal type, as of the last
        #: refresh (only Hamming types have bank thresholds; video frames keep the
        #: deployment's, as a video's shares of matched frames are computed in the
        #: index, at one frame distance for all banks).
        self._widest: dict[str, int] = {}
        self._follower: _Follower | None = None
        self._host: _HostStamp | None = None
        self._host_seen = 0

    @property
    def applied_change_id(self) -> int:
        return self._applied

    @property
    def built(self) -> bool:
        return self._built

    def follow(self, sessions: Callable[[], Session], interval: float) -> None:
        """Keep current from a background thread polling the log every `interval` seconds.

        With a snapshot directory, the processes of a host also share a change
        stamp there, through which a change one of them makes for a waiting
        caller (`poke(urgent=True)`) is applied by all of them before their
        next lookup.
        """
        if self._follower is None:
            folder = self.config.snapshot_dir
            self._host = None if folder is None else _HostStamp(folder / HOST_STAMP)
            self._follower = _Follower(self, sessions, interval)
            self._follower.start()

    def poke(self, urgent: bool) -> None:
        """This process committed a change (when following): apply it soon, and when
        `urgent` (someone is waiting for it) before any lookup on this host."""
        if self._follower is None:
            return
        if not urgent:
            self._follower.wake()
        elif self._host is not None:
            self._host.bump()
        else:
            self._follower.refresh_now()

    def caught_up_within(self, seconds: float) -> bool:
        """Whether the indexes are built and were brought current in the last `seconds`.

        Without a follower they are brought current by every lookup, so being
        built is enough.
        """
        if not self._built:
            return False
        return self._follower is None or self._follower.age() <= seconds

    def threshold(self, signal_type: str) -> int:
        kind = self.registry.signal_type(signal_type)
        return self.config.thresholds.get(signal_type, kind.default_threshold)

    def widest_threshold(self, signal_type: str) -> int:
        """How far to search for `signal_type`: its threshold, or an enabled bank's wider one."""
        return max(self.threshold(signal_type), self._widest.get(signal_type, 0))

    def bank_threshold(self, signal_type: str, thresholds: Mapping[str, int]) -> int:
        """A bank's distance for `signal_type` (its `thresholds`), else the deployment's."""
        own = thresholds.get(signal_type)
        return self.threshold(signal_type) if own is None else own

    def _video_options(self) -> dict[str, Any]:
        return {
            "quality_min": self.config.quality_min,
            "query_share": self.config.video_query_share,
            "bank_share": self.config.video_bank_share,
        }

    # Keeping current -------------------------------------------------------------

    def refresh(self, session: Session) -> None:
        """Start (from a snapshot or the tables), then apply change-log entries not yet seen."""
        with self._lock:
            if not self._built:
                self._start(session)
            while True:
                changes = changelog.since(session, self._applied, CATCH_UP_CHUNK)
                self._apply_changes(changes.entries)
                self._applied = changes.through
                if not changes.more:
                    break
            self._widest = _widest_thresholds(
                session.scalars(select(Bank.thresholds).where(Bank.enabled))
            )
        self._maybe_snapshot()

    def _apply_changes(self, entries: Sequence[changelog.Entry | changelog.RunSignal]) -> None:
        """Apply log entries in their order, each run of adds (or removals) in one go.

        Order matters: content disabled and enabled again removes and re-adds
        the same signal ids. "update" entries (tags, metadata) do not change
        what matches.
        """
        changes = (e for e in entries if e.op in ("add", "remove"))
        for op, run in groupby(changes, key=itemgetter(1)):
            by_type: dict[str, tuple[list[int], list[str]]] = defaultdict(lambda: ([], []))
            # Unpacked rather than read by name: a large sync brings a million.
            for _id, _op, _bank, _content, signal_type, signal_id, value in run:
                ids, values = by_type[signal_type]
                ids.append(signal_id)
                values.append(value)
            for signal_type, (ids, values) in by_type.items():
                if op == "add":
                    self._add(signal_type, ids, values)
                elif (index := self._indexes.get(signal_type)) is not None:
                    index.remove(ids)
                    if self.registry.signal_type(signal_type).personal:
                        self._purge.add(signal_type)
                        self._snapshot_at = float("-inf")

    def _start(self, session: Session) -> None:
        head = changelog.head(session)
        if self._load_snapshot(head):
            self._built = True
            return
        self._build(session)
        self._built = True
        if self.config.snapshot_dir is not None:
            self.save_snapshot(replace_unfit=True)

    def _build(self, session: Session) -> None:
        # Read the log head first: entries after it are applied afterwards, and
        # applying an entry twice is harmless (adds replace, removals ignore).
        self._applied = changelog.head(session)
        # In ranges of ids rather than through one cursor: a range is a
        # statement of its own, so the build holds no transaction (nor a
        # server-side cursor, which PostgreSQL allows only inside one) for its
        # duration. No join to content either: PostgreSQL answered each page
        # of a join with a hash of the whole content table, so a build took
        # time in the square of the bank. The few disabled items are read
        # first and left out.
        connection = session.connection()
        disabled = set(connection.execute(_DISABLED_CONTENT).scalars())
        top = connection.execute(_LAST_SIGNAL).scalar_one()
        for first in range(1, top + 1, BUILD_CHUNK):
            params = {"first": first, "last": first + BUILD_CHUNK - 1}
            grouped: dict[str, tuple[list[int], list[str]]] = defaultdict(lambda: ([], []))
            for signal_id, content_id, signal_type, value in _raw_rows(
                connection.execute(_BUILD_RANGE, params)
            ):
                if content_id not in disabled:
                    ids, values = grouped[signal_type]
                    ids.append(signal_id)
                    values.append(value)
            for signal_type, (ids, values) in grouped.items():
                self._add(signal_type, ids, values)
        self.settle()

    def settle(self) -> None:
        """Fold every index's recent additions into its segments now, in this thread.

        Loaded from a snapshot, segments are memory-mapped and shared by the
        host's processes, while recent additions are each process's own: a
        snapshot written after this maps almost whole into every worker.
        """
        for index in self._indexes.values():
            if isinstance(index, LiveIndex):
                index.wait_for_compaction()
                if index.needs_compaction():
                    index.compact()
                index.auto_compact = True

    def _add(self, signal_type: str, ids: list[int], values: list[str]) -> None:
        index = self._indexes.get(signal_type)
        if index is None:
            if signal_type in self._unindexable:
                return
            try:
                kind = self.registry.signal_type(signal_type)
                index = index_for(kind, **self._video_options())
            except (UnknownSignalType, ValueError) as exc:
                log.warning("bank signals of type %r are not matched: %s", signal_type, exc)
                self._unindexable.add(signal_type)
                return
            if not self._built and isinstance(index, LiveIndex):
                # A build adds everything first and compacts once (`settle`),
                # instead of rebuilding a growing index every 65,536 rows.
                index.auto_compact = False
            self._indexes[signal_type] = index
        index.add_values(ids, values)

    # Snapshots ---------------------------------------------------------------------

    def _load_snapshot(self, head: int) -> bool:
        folder = self.config.snapshot_dir
        if folder is None or not (folder / SNAPSHOT_STATE).exists():
            return False
        try:
            state = json.loads((folder / SNAPSHOT_STATE).read_text())
            if state.get("format") != SNAPSHOT_FORMAT or state["applied_change_id"] > head:
                # Written against another database (or a newer schema): not ours to use.
                log.warning("ignoring index snapshot in %s: it does not fit this database", folder)
                return False
            indexes = {
                name: load_index(
                    self.registry.signal_type(name), folder / name, **self._video_options()
                )
                for name in state["types"]
            }
        except (OSError, ValueError, KeyError, UnknownSignalType) as exc:
            log.warning("ignoring unreadable index snapshot in %s: %s", folder, exc)
            return False
        self._indexes, self._applied = indexes, int(state["applied_change_id"])
        self._snapshot_change = self._applied
        log.info("loaded index snapshot at change %d from %s", self._applied, folder)
        return True

    def save_snapshot(self, replace_unfit: bool = False) -> None:
        """Write every index and the change they reflect, replacing the previous snapshot.

        Skipped when another process of the host is writing one, or the one on
        disk is at least as new, unless `replace_unfit` (the one on disk could
        not be used).

        The recorded change id is read before the indexes are written, so the
        snapshot may hold later changes too; replaying those on load is harmless.
        """
        folder = self.config.snapshot_dir
        if folder is None:
            return
        folder.mkdir(parents=True, exist_ok=True)
        with self._snapshot_lock, filelock.held(folder / SNAPSHOT_WRITER) as writing:
            applied, indexes = self._applied, dict(self._indexes)
            newer = not replace_unfit and _snapshot_change_on_disk(folder) >= applied
            if not writing or newer:
                # Another process of this host is writing one, or wrote one as new.
                self._snapshot_change, self._snapshot_at = applied, time.monotonic()
                return
            purged, self._purge = self._purge, set()
            for name, index in indexes.items():
                if name in purged and isinstance(index, LiveIndex):
                    index.compact()  # removed rows are dropped, not merely marked dead
                index.save(folder / name)
            state = {
                "format": SNAPSHOT_FORMAT,
                "applied_change_id": applied,
                "types": sorted(indexes),
            }
            staging = folder / f".{SNAPSHOT_STATE}.{os.getpid()}.{threading.get_ident()}"
            staging.write_text(json.dumps(state))
            os.replace(staging, folder / SNAPSHOT_STATE)
            self._snapshot_change, self._snapshot_at = applied, time.monotonic()

    def warm_up(self) -> None:
        """Compile (or load from numba's cache) every matching kernel now.

        A worker that did this on its first lookup held that request, and all
        that queued behind it, for a second or more.
        """
        for name, kind in self.registry.signal_types.items():
            if kind.comparison not in ("hamming", "exact"):
                continue
            probe = "0" * (kind.bits // 4) if kind.comparison == "hamming" else "warm-up"
            try:
                scratch = index_for(kind)
            except ValueError:
                continue
            scratch.add_values([1], [probe])
            if isinstance(scratch, ExactIndex):
                scratch.compact()  # its compiled part is the segments' search
            # A scratch index exercises the recent-additions path; the live one
            # (when loaded with segments) the segment search too.
            for index in (scratch, self._indexes.get(name)):
                if index is not None:
                    index.lookup([probe], self.threshold(name))

    def unload(self) -> None:
        """Let go of every index (a server's master, before forking workers that load
        their own); the next `refresh` starts again from the snapshot."""
        with self._lock:
            self._indexes, self._built, self._applied = {}, False, 0

    def _maybe_snapshot(self) -> None:
        interval = self.config.snapshot_interval
        due = (
            self.config.snapshot_dir is not None
            and interval > 0
            and self._applied != self._snapshot_change
            and time.monotonic() - self._snapshot_at >= interval
            and not self._snapshot_lock.locked()
        )
        if due:
            self._snapshot_at = time.monotonic()
            threading.Thread(
                target=self._snapshot_in_background, daemon=True, name="index-snapshot"
            ).start()

    def _snapshot_in_background(self) -> None:
        try:
            self.save_snapshot()
        except Exception:
            log.exception("writing the index snapshot failed; the next one will retry")

    # Lookups ------------------------------------------------------------------------

    def _current(self, session: Session) -> None:
        """Bring the indexes current before a lookup, as this process's mode wants."""
        if self._follower is None:
            self.refresh(session)
        elif self._host is not None and (stamp := self._host.read()) != self._host_seen:
            self._host_seen = stamp
            self._follower.refresh_now()

    def hits(self, session: Session, signal: Signal, threshold: int) -> list[tuple[int, int]]:
        """(signal row id, distance) of every indexed signal within `threshold` of
        `signal`, whatever its bank's state or threshold: the raw index answer."""
        self._current(session)
        index = self._indexes.get(signal.type)
        if index is None:
            return []
        kind = self.registry.signal_type(signal.type)
        found = index.lookup(kind.lookup_values(signal.value), threshold)
        return sorted({hit.id: hit.distance for hits in found for hit in hits}.items())

    def find(self, session: Session, signals: list[Signal]) -> list[BankMatch]:
        """Every enabled bank signal matching one of `signals` (unusable ones skipped)."""
        self._current(session)
        hits: dict[int, list[_Candidate]] = defaultdict(list)
        for signal in signals:
            index = self._indexes.get(signal.type)
            if index is None or not signal.usable:
                continue
            threshold = self.widest_threshold(signal.type)
            kind = self.registry.signal_type(signal.type)
            queries = _queries(kind, signal, self.registry.account_keys)
            found = index.lookup([value for value, _ in queries], threshold)
            for (value, variant), signal_hits in zip(queries, found, strict=True):
                covering = variant is None and value != signal.value
                # A keyed hash stands for the account queried: that is what is shown.
                shown = signal.value if covering or is_keyed(variant) else value
                for hit in signal_hits:
                    detail = dict(hit.detail) if hit.detail else None
                    hits[hit.id].append(
                        _Candidate(
                            hit.found or shown,
                            variant,
                            hit.distance,
                            detail,
                            signal.quality,
                            value if covering else None,
                        )
                    )
        if not hits:
            return []
        rows = session.connection().execute(_CANDIDATES, {"ids": list(hits)})
        matches = []
        for stored in rows:
            limit = self.bank_threshold(stored.signal_type, stored.thresholds)
            for candidate in hits[stored.id]:
                if candidate.distance > limit:
                    continue
                matches.append(
                    BankMatch(
                        bank=stored.name,
                        bank_id=stored.bank_id,
                        content_id=stored.content_id,
                        signal_id=stored.id,
                        signal_type=stored.signal_type,
                        signal=stored.value,
                        query_signal=candidate.query_value,
                        distance=candidate.distance,
                        tags=list(stored.tags),
                        variant=candidate.variant,
                        detail=candidate.detail,
                        quality=candidate.quality,
                        matching_ratio=stored.matching_ratio,
                        expression=candidate.expression,
                    )
                )
        matches.sort(key=lambda m: (m.distance, m.bank, m.content_id, m.signal_type))
        return matches

    def explain(
        self, session: Session, signals: Sequence[Signal], margin: int = 8
    ) -> list[Candidate]:
        """Every indexed signal near one of `signals`, matched or not, and why: for
        curators asking why something did (or did not) match.

        Hamming types are searched `margin` past the widest threshold in force, so
        near misses show with the threshold that turned them away.
        """
        self._current(session)
        out: list[Candidate] = []
        for signal in signals:
            if signal.type not in self._indexes:
                continue
            kind = self.registry.signal_type(signal.type)
            widest = self.widest_threshold(signal.type)
            reach = min(kind.bits, widest + margin) if kind.comparison == "hamming" else widest
            hits = dict(self.hits(session, signal, reach))
            if not hits:
                continue
            rows = session.execute(
                select(BankSignal.id, BankSignal.content_id, BankSignal.value)
                .add_columns(Bank.name, Bank.enabled, Bank.thresholds)
                .join(Bank, Bank.id == BankSignal.bank_id)
                .where(BankSignal.id.in_(hits))
            )
            for signal_id, content_id, value, bank, enabled, thresholds in rows:
                limit = self.bank_threshold(signal.type, thresholds)
                distance = hits[signal_id]
                reason = (
                    "the bank is disabled"
                    if not enabled
                    else f"over the threshold of {limit}"
                    if distance > limit
                    else ""
                )
                out.append(
                    Candidate(
                        signal.type, signal.value, bank, content_id, value, distance, limit, reason
                    )
                )
        out.sort(key=lambda c: (c.distance, c.bank, c.content_id))
        return out

    def status(self, head: int | None = None) -> dict[str, Any]:
        """Each index's size, the last change applied and, given the log's head, the lag."""
        lag = None if head is None else max(0, head - self._applied)
        return {
            "applied_change_id": self._applied,
            "indexes": {
                name: {"size": len(index), "applied_change_id": self._applied, "lag": lag}
                for name, index in sorted(self._indexes.items())
            },
        }


def _raw_rows(result: CursorResult[Any]) -> list[Any]:
    """A result's rows as the driver's plain tuples.

    A build reads every signal of every bank; wrapping each in a Row object
    took more than a third of it (1.0 of 2.7 s for 300,000 signals).
    """
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def _snapshot_change_on_disk(folder: Path) -> int:
    """The change the snapshot in `folder` reflects (-1 when there is none usable)."""
    try:
        state = json.loads((folder / SNAPSHOT_STATE).read_text())
    except (OSError, ValueError):
        return -1
    if state.get("format") != SNAPSHOT_FORMAT:
        return -1
    return int(state.get("applied_change_id", -1))


class _HostStamp:
    """Eight bytes in a file, memory-mapped by every process of a host.

    A process that made an urgent change writes a new value; the others
    compare it with the last value they saw before each lookup, which costs
    a memory read, and bring their indexes current when it differs.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as handle:
            if os.fstat(handle.fileno()).st_size < 8:
                handle.truncate(8)
            self._map = mmap.mmap(handle.fileno(), 8)

    def read(self) -> int:
        return int(struct.unpack_from("<q", self._map)[0])

    def bump(self) -> None:
        struct.pack_into("<q", self._map, 0, time.time_ns() ^ os.getpid())


class _Follower(threading.Thread):
    """Polls the change log for one process's indexes; a failed poll is retried.

    `refresh_now()` wakes it and waits for one refresh, so that a change this
    process has just committed is matchable by its very next lookup.
    """

    def __init__(
        self, indexes: BankIndexes, sessions: Callable[[], Session], interval: float
    ) -> None:
        super().__init__(daemon=True, name="index-follower")
        self.indexes, self.sessions, self.interval = indexes, sessions, interval
        self._wake = threading.Condition()
        self._wanted = 0
        self._done = 0
        self._refreshed_at = 0.0
        self._failing = False

    def age(self) -> float:
        """Seconds since the indexes were last brought current."""
        return time.monotonic() - self._refreshed_at

    def wake(self) -> None:
        """Refresh now rather than at the next poll, without waiting for it."""
        with self._wake:
            self._wanted += 1
            self._wake.notify_all()

    def refresh_now(self, timeout: float = 5.0) -> None:
        with self._wake:
            self._wanted += 1
            wanted = self._wanted
            self._wake.notify_all()
            self._wake.wait_for(lambda: self._done >= wanted, timeout)

    def run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._wanted > self._done, self.interval)
                wanted = self._wanted
            self._refresh()
            with self._wake:
                self._done = wanted
                self._wake.notify_all()

    def _refresh(self) -> None:
        try:
            with self.sessions() as session:
                self.indexes.refresh(session)
        except SQLAlchemyError as exc:
            if not self._failing:
                log.warning("index follower cannot read the change log (will retry): %s", exc)
            self._failing = True
            return
        if self._failing:
            log.info("index follower reads the change log again")
        self._failing = False
        self._refreshed_at = time.monotonic()
