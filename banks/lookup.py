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
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter
from pathlib import Path
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from banks import changelog
from banks.models import Bank, BankContent, BankSignal
from hashers import Registry, Signal, UnknownSignalType
from matchers import SignalIndex, index_for, load_index

log = logging.getLogger(__name__)

BUILD_CHUNK = 50_000
SNAPSHOT_STATE = "state.json"
SNAPSHOT_FORMAT = 1
#: The signal type a bank's pdq_threshold applies to. Video frames keep the
#: deployment threshold: a video's shares of matched frames are computed in the
#: index, at one frame distance for all banks.
BANK_THRESHOLD_TYPE = "pdq"


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
        if self.detail:
            out.update(self.detail)
        return out


def _variants(signal: Signal) -> list[tuple[str, str | None]]:
    """Extra values to look up for a signal: PDQ's rotations and flips, when computed."""
    variants: dict[str, str] = signal.extra.get("variants", {})
    return [(value, name) for name, value in variants.items()]


@dataclass(frozen=True)
class _Candidate:
    query_value: str
    variant: str | None
    distance: int
    detail: dict[str, float] | None
    quality: int | None


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

    @property
    def applied_change_id(self) -> int:
        return self._applied

    def threshold(self, signal_type: str) -> int:
        kind = self.registry.signal_type(signal_type)
        return self.config.thresholds.get(signal_type, kind.default_threshold)

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
                entries = changelog.since(session, self._applied, BUILD_CHUNK)
                if not entries:
                    break
                self._apply_changes(entries)
                self._applied = entries[-1].id
        self._maybe_snapshot()

    def _apply_changes(self, entries: Sequence[Row[changelog.Entry]]) -> None:
        """Apply log entries in their order, each run of adds (or removals) in one go.

        Order matters: content disabled and enabled again removes and re-adds
        the same signal ids. "update" entries (tags, metadata) do not change
        what matches.
        """
        changes = (e for e in entries if e.op in ("add", "remove"))
        for op, run in groupby(changes, key=attrgetter("op")):
            by_type: dict[str, tuple[list[int], list[str]]] = defaultdict(lambda: ([], []))
            for entry in run:
                ids, values = by_type[entry.signal_type]
                ids.append(entry.signal_id)
                values.append(entry.value)
            for signal_type, (ids, values) in by_type.items():
                if op == "add":
                    self._add(signal_type, ids, values)
                elif (index := self._indexes.get(signal_type)) is not None:
                    index.remove(ids)

    def _start(self, session: Session) -> None:
        head = changelog.head(session)
        if self._load_snapshot(head):
            self._built = True
            return
        self._build(session)
        self._built = True
        if self.config.snapshot_dir is not None:
            self.save_snapshot()

    def _build(self, session: Session) -> None:
        # Read the log head first: entries after it are applied afterwards, and
        # applying an entry twice is harmless (adds replace, removals ignore).
        self._applied = changelog.head(session)
        rows = session.execute(
            select(BankSignal.id, BankSignal.signal_type, BankSignal.value)
            .join(BankContent, BankSignal.content_id == BankContent.id)
            .where(BankContent.enabled)
            .execution_options(yield_per=BUILD_CHUNK)
        )
        for chunk in rows.partitions():
            grouped: dict[str, tuple[list[int], list[str]]] = defaultdict(lambda: ([], []))
            for signal_id, signal_type, value in chunk:
                ids, values = grouped[signal_type]
                ids.append(signal_id)
                values.append(value)
            for signal_type, (ids, values) in grouped.items():
                self._add(signal_type, ids, values)

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

    def save_snapshot(self) -> None:
        """Write every index and the change they reflect, replacing the previous snapshot.

        The recorded change id is read before the indexes are written, so the
        snapshot may hold later changes too; replaying those on load is harmless.
        """
        folder = self.config.snapshot_dir
        if folder is None:
            return
        with self._snapshot_lock:
            applied, indexes = self._applied, dict(self._indexes)
            folder.mkdir(parents=True, exist_ok=True)
            for name, index in indexes.items():
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

    def find(self, session: Session, signals: list[Signal]) -> list[BankMatch]:
        """Every enabled bank signal matching one of `signals` (unusable ones skipped)."""
        self.refresh(session)
        widest_pdq = session.scalar(select(func.max(Bank.pdq_threshold)).where(Bank.enabled))
        hits: dict[int, list[_Candidate]] = defaultdict(list)
        for signal in signals:
            index = self._indexes.get(signal.type)
            if index is None or not signal.usable:
                continue
            threshold = self.threshold(signal.type)
            if signal.type == BANK_THRESHOLD_TYPE and widest_pdq is not None:
                threshold = max(threshold, widest_pdq)
            queries = [(signal.value, None), *_variants(signal)]
            found = index.lookup([value for value, _ in queries], threshold)
            for (value, variant), signal_hits in zip(queries, found, strict=True):
                for hit in signal_hits:
                    detail = dict(hit.detail) if hit.detail else None
                    hits[hit.id].append(
                        _Candidate(value, variant, hit.distance, detail, signal.quality)
                    )
        if not hits:
            return []
        rows = session.execute(
            select(BankSignal, BankContent.tags, Bank.name, Bank.pdq_threshold)
            .join(BankContent, BankSignal.content_id == BankContent.id)
            .join(Bank, BankSignal.bank_id == Bank.id)
            .where(BankSignal.id.in_(hits), BankContent.enabled, Bank.enabled)
        )
        matches = []
        for stored, tags, bank_name, bank_threshold in rows:
            limit = self.threshold(stored.signal_type)
            if stored.signal_type == BANK_THRESHOLD_TYPE and bank_threshold is not None:
                limit = bank_threshold
            for candidate in hits[stored.id]:
                if candidate.distance > limit:
                    continue
                matches.append(
                    BankMatch(
                        bank=bank_name,
                        bank_id=stored.bank_id,
                        content_id=stored.content_id,
                        signal_id=stored.id,
                        signal_type=stored.signal_type,
                        signal=stored.value,
                        query_signal=candidate.query_value,
                        distance=candidate.distance,
                        tags=list(tags),
                        variant=candidate.variant,
                        detail=candidate.detail,
                        quality=candidate.quality,
                    )
                )
        matches.sort(key=lambda m: (m.distance, m.bank, m.content_id, m.signal_type))
        return matches

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
