"""What HMA-style raw lookups and index reports read beside the indexes: which content
and bank each hit belongs to, the disabled content the indexes leave out, and how
many signals of a type the banks hold.

Kept apart from `banks.lookup` (the matching path every scan takes): these are
reports, read at the pace of a curator or a client checking on an index.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from banks.models import Bank, BankContent, BankSignal
from hashers import SignalType

#: (content id, bank name, distance) of one hit.
Hit = tuple[int, str, int]


def hits_by_content(session: Session, distances: Mapping[int, int]) -> list[Hit]:
    """The content and bank of each hit signal (signal id -> distance)."""
    rows = session.execute(
        select(BankSignal.id, BankSignal.content_id, Bank.name)
        .join(Bank, Bank.id == BankSignal.bank_id)
        .where(BankSignal.id.in_(distances))
    )
    return [(content_id, bank, distances[signal_id]) for signal_id, content_id, bank in rows]


def disabled_hits(
    session: Session, signal_type: SignalType, value: str, threshold: int
) -> list[Hit]:
    """Disabled content within `threshold` of `value`. It is not indexed, so it is
    compared here one stored signal at a time (disabled content is the rare case)."""
    rows = session.execute(
        select(BankSignal.content_id, BankSignal.value, Bank.name)
        .join(BankContent, BankContent.id == BankSignal.content_id)
        .join(Bank, Bank.id == BankSignal.bank_id)
        .where(~BankContent.enabled, BankSignal.signal_type == signal_type.name)
    )
    found = []
    for content_id, stored, bank in rows:
        distance = signal_type.distance(value, stored)
        if distance <= threshold:
            found.append((content_id, bank, distance))
    return found


def stored_signals(session: Session, signal_type: str) -> tuple[int, datetime | None]:
    """How many signals of `signal_type` the banks hold, and when the newest content
    holding one was added."""
    count, newest = session.execute(
        select(func.count(BankSignal.id), func.max(BankContent.created_at))
        .join(BankContent, BankContent.id == BankSignal.content_id)
        .where(BankSignal.signal_type == signal_type)
    ).one()
    return int(count), newest
