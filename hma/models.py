"""Tables the application itself owns: API tokens, console users and leases."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from database import Base, UTCDateTime, utcnow


class Lease(Base):
    """A role that exactly one process may hold at a time, across every host.

    The holder renews it well before `expires_at`; a holder that dies stops
    renewing, and another process takes the lease over once it has expired.
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: `host:pid` of the process holding it.
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
