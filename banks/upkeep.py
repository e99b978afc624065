"""Bringing stored signal values up to the rules of the running release.

Migrations change the schema with no import of the project's code, so that an
old migration still means what it meant when it was written. Applying the
current spelling rules to values already stored is the opposite: it must use
the rules as they are now. `hma db upgrade` therefore runs this after the
migrations, every time: it is idempotent, so an upgrade cut off between the
two steps finishes when it is run again.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from banks.models import BankSignal
from core.errors import InvalidSignal
from hashers.signals import URL, SignalType

log = logging.getLogger(__name__)

#: Types whose canonical spelling has changed between releases (URLs took the
#: blocklist form without the scheme in schema revision 0019).
RESPELLED_TYPES: tuple[SignalType, ...] = (URL,)


def respell_stored_values(session: Session) -> int:
    """Rewrite each stored value of `RESPELLED_TYPES` in its canonical spelling; the
    number rewritten. A value the rules refuse stays as it is and is logged: it
    matches nothing, as it did not before either."""
    rewritten = 0
    for signal_type in RESPELLED_TYPES:
        stored = select(BankSignal.id, BankSignal.value)
        rows = session.execute(stored.where(BankSignal.signal_type == signal_type.name)).all()
        for signal_id, value in rows:
            try:
                canonical = signal_type.normalize(value)
            except InvalidSignal as exc:
                log.warning("%s signal %d left as it was: %s", signal_type.name, signal_id, exc)
                continue
            if canonical != value:
                session.get_one(BankSignal, signal_id).value = canonical
                rewritten += 1
    return rewritten
