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
from operator import itemgetter
from pathlib import Path

import ahocorasick

from hashers.keywords import fold
from matchers.base import Hit

SNAPSHOT_FORMAT = "hma-keyword-index/1"
SNAPSHOT_FILE = "keywords.json"


#: Characters of folded text searched at a time: the unit in which a search stops
#: once every keyword was found, and in which repeated stretches are skipped.
CHUNK = 16 * 1024


class _Automaton:
    """The keywords (each once, with the ids that hold it) in one Aho-Corasick automaton.

    Aho-Corasick reports every occurrence of every keyword, overlapping ones
    included: a text of `aa aa aa ...` against the phrases `aa`, `aa aa`, ...
    yields each phrase at almost every word. Only whether a keyword occurs
    matters, so the text is searched a chunk at a time, each chunk's keywords
    gathered into a set without a Python step per occurrence; a chunk seen
    before is skipped, and the search stops once every keyword was found.
    """

    def __init__(self, by_id: dict[int, str]) -> None:
        by_needle: dict[str, list[int]] = defaultdict(list)
        for signal_id, needle in by_id.items():
            by_needle[needle].append(signal_id)
        #: (folded keyword, its ids) by the number the automaton reports.
        self.needles = [(needle, tuple(sorted(ids))) for needle, ids in by_needle.items()]
        self.longest = max(len(needle) for needle in by_needle)
        self._automaton = ahocorasick.Automaton()
        for which, (needle, _ids) in enumerate(self.needles):
            self._automaton.add_word(needle, which)
        self._automaton.make_automaton()

    def found_in(self, folded: str) -> set[int]:
        """The numbers of the keywords that occur in folded text."""
        found: set[int] = set()
        searched: set[str] = set()
        # Chunks overlap by a keyword's length, so none is missed across a boundary.
        for start in range(0, max(len(folded) - self.longest + 1, 1), CHUNK):
            chunk = folded[start : start + CHUNK + self.longest - 1]
            if chunk in searched:
                continue
            searched.add(chunk)
            found.update(map(itemgetter(1), self._automaton.iter(chunk)))
            if len(found) == len(self.needles):
                break
        return found


class KeywordIndex:
    """Signal ids by keyword; a lookup's value is a text, its hits the keywords in it."""

    def __init__(self) -> None:
        self._by_id: dict[int, str] = {}
        self._automaton: _Automaton | None = None
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
        current = self._current()
        results = []
        for text in values:
            hits: list[Hit] = []
            if current is not None:
                for which in current.found_in(fold(text)):
                    needle, ids = current.needles[which]
                    hits += [Hit(signal_id, 0, None, needle.strip()) for signal_id in ids]
            results.append(sorted(hits))
        return results

    def _current(self) -> _Automaton | None:
        with self._lock:
            if self._automaton is None and self._by_id:
                self._automaton = _Automaton(self._by_id)
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
