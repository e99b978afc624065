"""The little state only HMA's API has, in `hma_api_settings`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from banks.models import HmaApiSetting


def read(session: Session, key: str) -> dict[str, Any] | None:
    row = session.get(HmaApiSetting, key)
    return dict(row.value) if row is not None else None


def read_prefixed(session: Session, prefix: str) -> dict[str, dict[str, Any]]:
    """Every setting whose key starts with `prefix`, by the rest of its key."""
    rows = session.scalars(select(HmaApiSetting).where(HmaApiSetting.key.startswith(prefix)))
    return {row.key[len(prefix) :]: dict(row.value) for row in rows}


def write(session: Session, key: str, value: dict[str, Any] | None) -> None:
    """Store `value` under `key`; None removes it."""
    row = session.get(HmaApiSetting, key)
    if value is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(HmaApiSetting(key=key, value=value))
    else:
        row.value = value
    session.flush()
