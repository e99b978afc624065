"""Matching signals against every enabled bank, through in-memory indexes.

The indexes hold signal row ids only; the database stays the truth. A lookup
first applies any change-log entries the process has not seen, then asks the
indexes for candidates, then reads the candidates' bank and content rows,
dropping anything disabled or deleted in the meantime. So an index that lags
can cost a match for an instant, but it can never invent one.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from banks import changelog
from banks.models import Bank, BankContent, BankSignal
from hashers import Registry, Signal, UnknownSignalType
from matchers import SignalIndex, index_for

log = logging.getLogger(__name__)

BUILD_CHUNK = 50_000


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
        return out


def _variants(signal: Signal) -> list[tuple[str, str | None]]:
    """Extra values to look up for a signal: PDQ's rotations and flips, when computed."""
    variants: dict[str, str] = signal.extra.get("variants", {})
    return [(value, name) for name, value in variants.items()]


class BankIndexes:
    """One index per signal type for this process, kept current from the change log."""

    def __init__(self, registry: Registry, thresholds: Mapping[str, int] | None = None) -> None:
        self.registry = registry
        self.thresholds = dict(thresholds or {})
        self._indexes: dict[str, SignalIndex] = {}
        self._unindexable: set[str] = set()
        self._applied = 0
        self._built = False
        self._lock = threading.Lock()

    @property
    def applied_change_id(self) -> int:
        return self._applied

    def threshold(self, signal_type: str) -> int:
        kind = self.registry.signal_type(signal_type)
        return self.thresholds.get(signal_type, kind.default_threshold)

    def refresh(self, session: Session) -> None:
        """Build on first use, then apply change-log entries this process has not seen."""
        with self._lock:
            if not self._built:
                self._build(session)
            while True:
                entries = changelog.since(session, self._applied, BUILD_CHUNK)
                if not entries:
                    return
                adds: dict[str, tuple[list[int], list[str]]] = defaultdict(lambda: ([], []))
                removes: dict[str, list[int]] = defaultdict(list)
                for entry in entries:
                    if entry.op == "add":
                        ids, values = adds[entry.signal_type]
                        ids.append(entry.signal_id)
                        values.append(entry.value)
                    else:
                        removes[entry.signal_type].append(entry.signal_id)
                # Signal ids are never reused, so a removal always follows its add:
                # applying a batch's adds before its removals keeps log order.
                for signal_type, (ids, values) in adds.items():
                    self._add(signal_type, ids, values)
                for signal_type, ids in removes.items():
                    index = self._indexes.get(signal_type)
                    if index is not None:
                        index.remove(ids)
                self._applied = entries[-1].id

    def _build(self, session: Session) -> None:
        # Read the log head first: entries after it are applied afterwards, and
        # applying an entry twice is harmless (adds replace, removals ignore).
        self._applied = changelog.head(session)
        rows = session.execute(
            select(BankSignal.id, BankSignal.signal_type, BankSignal.value).execution_options(
                yield_per=BUILD_CHUNK
            )
        )
        for chunk in rows.partitions():
            grouped: dict[str, tuple[list[int], list[str]]] = defaultdict(lambda: ([], []))
            for signal_id, signal_type, value in chunk:
                ids, values = grouped[signal_type]
                ids.append(signal_id)
                values.append(value)
            for signal_type, (ids, values) in grouped.items():
                self._add(signal_type, ids, values)
        self._built = True

    def _add(self, signal_type: str, ids: list[int], values: list[str]) -> None:
        index = self._indexes.get(signal_type)
        if index is None:
            if signal_type in self._unindexable:
                return
            try:
                index = index_for(self.registry.signal_type(signal_type))
            except (UnknownSignalType, ValueError) as exc:
                log.warning("bank signals of type %r are not matched: %s", signal_type, exc)
                self._unindexable.add(signal_type)
                return
            self._indexes[signal_type] = index
        index.add_values(ids, values)

    def find(self, session: Session, signals: Sequence[Signal]) -> list[BankMatch]:
        """Every enabled bank signal matching one of `signals` (unusable ones skipped)."""
        self.refresh(session)
        hits: dict[int, list[tuple[str, str | None, int]]] = defaultdict(list)
        for signal in signals:
            index = self._indexes.get(signal.type)
            if index is None or not signal.usable:
                continue
            queries = [(signal.value, None), *_variants(signal)]
            found = index.lookup([value for value, _ in queries], self.threshold(signal.type))
            for (value, variant), signal_hits in zip(queries, found, strict=True):
                for signal_id, distance in signal_hits:
                    hits[signal_id].append((value, variant, distance))
        if not hits:
            return []
        rows = session.execute(
            select(BankSignal, BankContent.tags, Bank.name)
            .join(BankContent, BankSignal.content_id == BankContent.id)
            .join(Bank, BankSignal.bank_id == Bank.id)
            .where(BankSignal.id.in_(hits), BankContent.enabled, Bank.enabled)
        )
        matches = [
            BankMatch(
                bank=bank_name,
                bank_id=stored.bank_id,
                content_id=stored.content_id,
                signal_id=stored.id,
                signal_type=stored.signal_type,
                signal=stored.value,
                query_signal=query_value,
                distance=distance,
                tags=list(tags),
                variant=variant,
            )
            for stored, tags, bank_name in rows
            for query_value, variant, distance in hits[stored.id]
        ]
        matches.sort(key=lambda m: (m.distance, m.bank, m.content_id, m.signal_type))
        return matches

    def status(self) -> dict[str, Any]:
        return {
            "applied_change_id": self._applied,
            "indexes": {name: {"size": len(index)} for name, index in self._indexes.items()},
        }
