"""The shape every index shares, whatever its data structure.

Indexes store integer ids (the bank layer uses its signal row ids) against
signal values and answer "which ids lie within `threshold` of this value".
They hold no metadata: what an id means is the caller's business, which keeps
them small and lets one process rebuild them from any source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol


class Hit(NamedTuple):
    """One stored value found by a lookup."""

    id: int
    distance: int
    #: Index-specific facts about the match (a video's share of matched frames).
    detail: Mapping[str, float] | None = None
    #: The part of the queried value that matched, when only a part did (the
    #: keyword found in a text).
    found: str | None = None


class SignalIndex(Protocol):
    def add_values(self, ids: Sequence[int], values: Sequence[str]) -> None:
        """Insert or replace the values stored under `ids` (normalised strings)."""

    def remove(self, ids: Sequence[int]) -> None:
        """Forget `ids`; unknown ids are ignored."""

    def lookup(self, values: Sequence[str], threshold: int) -> list[list[Hit]]:
        """For each value, every stored id within `threshold`, nearest first."""

    def save(self, path: str | Path) -> None:
        """Write a snapshot that the index type's `load` reads back."""

    def __len__(self) -> int: ...
