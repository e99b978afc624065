"""Publishing a bank: its change log, read as a feed by other instances.

Only what may be shared leaves: enabled content with at least one primary
taxonomy tag, as signal type, value and tags, never the free-form metadata
(data minimisation); and content that came from an exchange (followed now,
or once: `origin_exchange`) only if the bank is marked `reshare` (a program's
signals stay under that program's rules unless a curator decides otherwise).
Disabling or removing content reaches followers as a delete; changing its
tags, as an upsert.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from banks import changelog
from banks.models import Bank, BankContent
from banks.taxonomy import Taxonomy
from core.errors import InvalidInput

MAX_PAGE = 10_000


@dataclass(frozen=True)
class FeedPage:
    changes: list[dict[str, Any]]
    next_after: int
    has_more: bool


def published_banks(session: Session) -> list[Bank]:
    return list(session.scalars(select(Bank).where(Bank.published).order_by(Bank.name)))


def feed(session: Session, bank: Bank, taxonomy: Taxonomy, after: int, limit: int) -> FeedPage:
    if not 1 <= limit <= MAX_PAGE or after < 0:
        raise InvalidInput(
            f"limit must be from 1 to {MAX_PAGE}, after 0 or more", code="invalid_paging"
        )
    read = changelog.since(session, after, limit, bank_id=bank.id)
    entries = read.entries
    contents = {
        content_id: (enabled and (bank.reshare or (exchange_id is None and not origin)), tags)
        for content_id, enabled, tags, exchange_id, origin in session.execute(
            select(
                BankContent.id,
                BankContent.enabled,
                BankContent.tags,
                BankContent.exchange_id,
                BankContent.origin_exchange,
            ).where(BankContent.id.in_({e.content_id for e in entries if e.content_id}))
        )
    }
    changes = []
    for entry in entries:
        base = {
            "cursor": entry.id,
            "signal_id": entry.signal_id,
            "content_id": entry.content_id,
            "signal_type": entry.signal_type,
        }
        if entry.op == "remove":
            changes.append(base | {"op": "delete"})
            continue
        enabled, tags = contents.get(entry.content_id or 0, (False, []))
        # Gone or disabled since: a removal follows in the log. Unshareable, or
        # another program's and not to be reshared: withheld.
        if enabled and any(taxonomy.is_primary(tag) for tag in tags):
            changes.append(base | {"op": "upsert", "value": entry.value, "tags": list(tags)})
    return FeedPage(changes, read.through, read.more)


def check_publishable(session: Session, bank: Bank, taxonomy: Taxonomy) -> None:
    """Refuse to publish a bank holding enabled content that could not be shared."""
    unshareable = [
        content_id
        for content_id, tags in session.execute(
            select(BankContent.id, BankContent.tags).where(
                BankContent.bank_id == bank.id, BankContent.enabled
            )
        )
        if not any(taxonomy.is_primary(tag) for tag in tags)
    ]
    if unshareable:
        shown = ", ".join(str(i) for i in unshareable[:10])
        raise InvalidInput(
            f"{len(unshareable)} enabled item(s) have no primary taxonomy tag (content {shown}"
            f"{', ...' if len(unshareable) > 10 else ''}); tag or disable them before publishing",
            code="missing_primary_tag",
        )
