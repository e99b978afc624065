"""In-memory indexes per signal type: a pure library (no web framework, no database)."""

from __future__ import annotations

from hashers import SignalType
from matchers.base import Hit, SignalIndex
from matchers.exact import ExactIndex
from matchers.pdq import PDQIndex


def index_for(signal_type: SignalType) -> SignalIndex:
    """A new, empty index suited to how `signal_type` compares values."""
    if signal_type.comparison == "exact":
        return ExactIndex()
    if signal_type.comparison == "hamming" and signal_type.bits == 256:
        return PDQIndex()
    raise ValueError(
        f"no index handles {signal_type.comparison} signals of {signal_type.bits} bits"
    )


__all__ = ["ExactIndex", "Hit", "PDQIndex", "SignalIndex", "index_for"]
