"""Keyword index: many words and phrases found in one text in a single pass.

Keywords are folded (`hashers.keywords.fold`) and loaded into an Aho-Corasick
automaton (`pyahocorasick`), each with its spaces on either side, so a search
of the folded text finds every keyword on word boundaries at once, in time
linear in the text whatever the number of keywords.

The automaton is immutable once built. Changes mark it stale and the next
lookup rebuilds it (100,000 keywords take well under a second); keywords are
a small share of what banks hold and change rarely, which makes that cheaper
than the segments and deltas of the other indexes.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ahocorasick

from hashers.keywords import fold
from matchers.base import Hit

SNAPSHOT_FORMAT = "hma-keyword-index/1"
SNAPSHOT_FILE = "keywords.json"


class KeywordIndex:
    """Signal ids by keyword; a lookup's value is a text, its hits the keywords in it."""

    def __init__(self) -> None:
        self._by_id: dict[int, str] = {}
        self._automaton: Any = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._by_id)

    def add_values(self, ids: Sequence[int], values: Sequence[str]) -> None:
        with self._lock:
            for signal_id, value in zip(ids, values, strict=True):
                self._by_id[int(signal_id)] = fold(value)
            self._automaton = None

    def remove(self, ids: Sequence[int]) -> None:
        with self._lock:
            for signal_id in ids:
                self._by_id.pop(int(signal_id), None)
            self._automaton = None

    def lookup(self, values: Sequence[str], threshold: int = 0) -> list[list[Hit]]:
        """For each text, one hit per keyword id found in it (threshold unused).

        A hit's `found` is the folded keyword, as matched."""
        automaton = self._current()
        results = []
        for text in values:
            seen: dict[int, Hit] = {}
            if automaton is not None:
                for _end, (needle, ids) in automaton.iter(fold(text)):
                    for signal_id in ids:
                        seen.setdefault(signal_id, Hit(signal_id, 0, None, needle.strip()))
            results.append(sorted(seen.values()))
        return results

    def _current(self) -> Any:
        with self._lock:
            if self._automaton is None and self._by_id:
                by_needle: dict[str, list[int]] = defaultdict(list)
                for signal_id, needle in self._by_id.items():
                    by_needle[needle].append(signal_id)
                automaton = ahocorasick.Automaton()
                for needle, ids in by_needle.items():
                    automaton.add_word(needle, (needle, tuple(sorted(ids))))
                automaton.make_automaton()
                self._automaton = automaton
            return self._automaton

    def save(self, path: str | Path) -> None:
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            rows = sorted(self._by_id.items())
        staging = folder / f".{SNAPSHOT_FILE}.tmp"
        staging.write_text(json.dumps({"format": SNAPSHOT_FORMAT, "keywords": rows}))
        staging.replace(folder / SNAPSHOT_FILE)

    @classmethod
    def load(cls, path: str | Path) -> KeywordIndex:
        state = json.loads((Path(path) / SNAPSHOT_FILE).read_text())
        if state.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"{path} is not a keyword index snapshot")
        index = cls()
        with index._lock:
            index._by_id = {int(signal_id): needle for signal_id, needle in state["keywords"]}
        return index
