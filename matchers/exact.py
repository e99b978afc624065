"""Exact-match index for digests and other values compared for equality."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from matchers.base import Hit


class ExactIndex:
    """Value -> ids, with the reverse map needed to remove by id."""

    def __init__(self) -> None:
        self._ids_by_value: dict[str, set[int]] = {}
        self._value_by_id: dict[int, str] = {}
        self._lock = threading.Lock()

    def add_values(self, ids: Sequence[int], values: Sequence[str]) -> None:
        if len(ids) != len(values):
            raise ValueError("ids and values must have the same length")
        with self._lock:
            for raw_id, value in zip(ids, values, strict=True):
                item = int(raw_id)
                self._discard(item)
                self._value_by_id[item] = value
                self._ids_by_value.setdefault(value, set()).add(item)

    def remove(self, ids: Sequence[int]) -> None:
        with self._lock:
            for raw_id in ids:
                self._discard(int(raw_id))

    def _discard(self, item: int) -> None:
        old = self._value_by_id.pop(item, None)
        if old is None:
            return
        holders = self._ids_by_value[old]
        holders.discard(item)
        if not holders:
            del self._ids_by_value[old]

    def lookup(self, values: Sequence[str], threshold: int = 0) -> list[list[Hit]]:
        """Exact matches only; `threshold` is accepted for interface symmetry."""
        with self._lock:
            return [sorted((i, 0) for i in self._ids_by_value.get(v, ())) for v in values]

    def __len__(self) -> int:
        return len(self._value_by_id)
