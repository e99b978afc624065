"""In-memory indexes per signal type: a pure library (no web framework, no database)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hashers import SignalType
from matchers.base import Hit, SignalIndex
from matchers.exact import ExactIndex
from matchers.hamming import HammingIndex
from matchers.keywords import KeywordIndex
from matchers.pdq import PDQIndex
from matchers.video import VideoIndex


def _index_class(signal_type: SignalType) -> type[Any]:
    if signal_type.index_class is not None:
        return signal_type.index_class
    if signal_type.comparison == "exact":
        return ExactIndex
    if signal_type.comparison == "hamming" and signal_type.bits == 256:
        return PDQIndex
    if signal_type.comparison == "hamming" and signal_type.bits == HammingIndex.bits:
        return HammingIndex
    if signal_type.comparison == "frames":
        return VideoIndex
    if signal_type.comparison == "keywords":
        return KeywordIndex
    raise ValueError(
        f"no index handles {signal_type.comparison} signals of {signal_type.bits} bits"
    )


def index_for(signal_type: SignalType, **video_options: Any) -> SignalIndex:
    """A new, empty index suited to how `signal_type` compares values.

    `video_options` (quality_min, query_share, bank_share) configure video indexes.
    """
    cls = _index_class(signal_type)
    index: SignalIndex = cls(**video_options) if cls is VideoIndex else cls()
    return index


def load_index(signal_type: SignalType, path: str | Path, **video_options: Any) -> SignalIndex:
    """An index of `signal_type` from a snapshot written by its `save`."""
    cls = _index_class(signal_type)
    index: SignalIndex = cls.load(path, **video_options) if cls is VideoIndex else cls.load(path)
    return index


__all__ = [
    "ExactIndex",
    "HammingIndex",
    "Hit",
    "KeywordIndex",
    "PDQIndex",
    "SignalIndex",
    "VideoIndex",
    "index_for",
    "load_index",
]
