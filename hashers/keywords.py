"""Keyword folding: one spelling for the ways people write a word to slip past filters.

Keywords and the text scanned for them are folded alike, so a keyword
matches every spelling that folds to the same thing. The folds, in order:

1. each character: compatibility decomposition (NFKD, which also does NFKC's
   work: full-width letters, ligatures, circled and styled letters become
   plain ones), combining marks dropped (`é` is `e`), then case folding;
2. common leetspeak: `0 1 3 4 5 7 @ $` read as `o i e a s t a s`;
3. every character that is not a letter or digit is a space (punctuation
   between words counts as a space);
4. three or more single letters each separated by one such character are
   joined (`s e x`, `s.e.x` and `s-e-x` become `sex`);
5. a character repeated is one (`sexxx` is `sex`, `book` is `bok`, and runs
   of spaces are one space).

A keyword then matches on word boundaries: the folded keyword, with a space
on either side, found in the folded text with a space on either side. Scripts
written without spaces between words (Chinese, Japanese, Thai) therefore only
match whole runs; the docs say so.

`fold` is the fast path (indexes fold every scanned text); `fold_with_origins`
also says where each folded character came from, for marking matches in the
original text on a reviewer's screen.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from core.errors import InvalidSignal

#: Longest keyword or phrase taken, in characters.
MAX_KEYWORD = 200
LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
_SPACED_LETTERS = re.compile(r"(?<= )[^ ](?: [^ ]){2,}(?= )")
_WHITESPACE = re.compile(r"\s+")


def _fold_char(char: str) -> str:
    """Steps 1 and 2 for one character; anything but a letter or digit is a space."""
    if char in LEET:
        return LEET[char]
    decomposed = unicodedata.normalize("NFKD", char)
    kept = "".join(c for c in decomposed if not unicodedata.category(c).startswith("M"))
    return "".join(LEET.get(c, c if c.isalnum() else " ") for c in kept.casefold())


class _CharFolds(dict[int, str]):
    """A `str.translate` table that folds each character the first time it is seen."""

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        self[code] = folded
        return folded


_FOLDS = _CharFolds()
Origins = npt.NDArray[np.int64]


def fold(text: str) -> str:
    """The folded text, with a space at either end (so every word is between spaces)."""
    return _fold(f" {text.translate(_FOLDS)} ", None)[0]


def fold_with_origins(text: str) -> tuple[str, Origins]:
    """`fold(text)`, and for each of its characters the index in `text` it came from.

    The padding spaces point at the text's ends. Slower than `fold`: for
    showing matches, not for finding them.
    """
    pieces = [char.translate(_FOLDS) for char in text]
    origins = np.repeat(np.arange(len(text), dtype=np.int64), [len(p) for p in pieces])
    padded = np.concatenate(([0], origins, [len(text)]))
    folded, kept = _fold(f" {''.join(pieces)} ", padded)
    assert kept is not None
    return folded, kept


def _fold(text: str, origins: Origins | None) -> tuple[str, Origins | None]:
    """Steps 3 to 5 on translated, space-padded text (carrying `origins` along).

    Letters are joined while separators are still as written (only single
    ones join); repeats, spaces included, are then removed with numpy: Python's
    regular expressions take half a millisecond a 10 KB text for a
    back-reference.
    """
    if _SPACED_LETTERS.search(text):
        pieces: list[str] = []
        keep = np.ones(len(text), dtype=bool)
        last = 0
        for found in _SPACED_LETTERS.finditer(text):
            start, end = found.span()
            pieces += [text[last:start], found.group().replace(" ", "")]
            keep[start + 1 : end : 2] = False
            last = end
        pieces.append(text[last:])
        text = "".join(pieces)
        origins = None if origins is None else origins[keep]
    return _without_repeats(text, origins)


def _without_repeats(text: str, origins: Origins | None) -> tuple[str, Origins | None]:
    """Runs of one character made one (each run keeps its first origin)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    keep = np.ones(len(codes), dtype=bool)
    keep[1:] = codes[1:] != codes[:-1]
    text = codes[keep].tobytes().decode("utf-32-le")
    return text, None if origins is None else origins[keep]


def normalize_keyword(value: str) -> str:
    """How a keyword is stored: NFKC, case-folded, white space made single spaces.

    Readable for curators; the full fold happens when indexed. Refused when
    nothing to match is left once folded.
    """
    if not isinstance(value, str):
        raise InvalidSignal("a keyword must be text", code="empty_keyword")
    text = _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", value).casefold()).strip()
    if not fold(text).strip():
        raise InvalidSignal("a keyword needs at least one letter or digit", code="empty_keyword")
    if len(text) > MAX_KEYWORD:
        raise InvalidSignal(
            f"a keyword is at most {MAX_KEYWORD} characters", code="keyword_too_long"
        )
    return text


def spans(text: str, keywords: list[str]) -> Iterator[tuple[int, int, str]]:
    """(start, end, keyword) of each place in `text` one of `keywords` matches, in
    order and without overlaps: what a reviewer's screen marks."""
    folded, origins = fold_with_origins(text)
    by_fold = {fold(k): k for k in keywords}
    wanted = sorted(by_fold, key=len, reverse=True)
    taken_until = -1
    hits = []
    for needle in wanted:
        at = folded.find(needle)
        while at != -1:
            hits.append((at, needle))
            at = folded.find(needle, at + 1)
    for at, needle in sorted(hits):
        first, last = at + 1, at + len(needle) - 2
        if first <= taken_until:
            continue
        taken_until = last
        yield int(origins[first]), _end_of(text, int(origins[last])), by_fold[needle]


def _end_of(text: str, index: int) -> int:
    """The end of the character at `index`, and of any run of it (a repeat folded away)."""
    end = index + 1
    while end < len(text) and text[end].casefold() == text[index].casefold():
        end += 1
    return end
