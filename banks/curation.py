"""Curators' changes to banks and their content, each written to the audit log by the
operation itself.

The CLI and the API call these rather than `banks.store` directly, so that
every entry point records the same entry for the same change, in the
transaction that makes it. (`banks` cannot audit: the audit log lives above
it, here in `actioners`.)
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from banks import hma_import, store, transfer
from banks.models import Bank, BankContent
from banks.taxonomy import Taxonomy
from database import audit
from hashers import Registry, Signal
from hashers.account_keys import NO_KEYS, AccountKeys


def snapshot(obj: Any) -> dict[str, Any]:
    """A row's column values (but its id and timestamps), to compare with `changed` later."""
    columns = sa_inspect(obj).mapper.column_attrs
    skip = {"id", "created_at", "updated_at"}
    return {c.key: copy.copy(getattr(obj, c.key)) for c in columns if c.key not in skip}


def changed(obj: Any, before: dict[str, Any]) -> list[str]:
    """The names (never the values) of the attributes in `before` that `obj` no longer has."""
    return [attr for attr, value in before.items() if getattr(obj, attr) != value]


def create_bank(
    session: Session,
    actor: str,
    name: Any,
    *,
    description: str = "",
    enabled: bool = True,
    matching_ratio: float = 1.0,
    account_key: str | None = None,
    keys: AccountKeys = NO_KEYS,
) -> Bank:
    """A new bank; one that keeps accounts keyed names a key of `keys`."""
    bank = store.create_bank(
        session, name, description=description, enabled=enabled, matching_ratio=matching_ratio
    )
    if account_key is not None:
        store.update_bank(session, bank, account_key=account_key, keys=keys)
    audit.record(session, actor, audit.BANK_CREATE, f"bank:{bank.name}")
    return bank


def change_bank(
    session: Session, actor: str, bank: Bank, taxonomy: Taxonomy, **changes: Any
) -> Bank:
    """`banks.store.update_bank` with `changes`; the entry names what changed, never values."""
    name, before = bank.name, snapshot(bank)
    store.update_bank(session, bank, taxonomy=taxonomy, **changes)
    renamed = {"renamed_from": name} if bank.name != name else {}
    details = {"changed": changed(bank, before)} | renamed
    audit.record(session, actor, audit.BANK_CHANGE, f"bank:{bank.name}", details)
    return bank


def delete_bank(session: Session, actor: str, bank: Bank) -> None:
    name = bank.name
    store.delete_bank(session, bank)
    audit.record(session, actor, audit.BANK_DELETE, f"bank:{name}")


def add_content(
    session: Session,
    actor: str,
    bank: Bank,
    signals: Sequence[Signal],
    taxonomy: Taxonomy,
    **fields: Any,
) -> BankContent:
    """`banks.store.add_content` (tags, metadata, source in `fields`)."""
    content = store.add_content(session, bank, signals, taxonomy=taxonomy, **fields)
    audit.record(
        session, actor, audit.BANK_CHANGE, f"bank:{bank.name}", {"content_added": content.id}
    )
    return content


def change_content(
    session: Session,
    actor: str,
    bank: Bank,
    content: BankContent,
    taxonomy: Taxonomy,
    **changes: Any,
) -> BankContent:
    before = snapshot(content)
    store.update_content(session, content, taxonomy=taxonomy, **changes)
    # The API's names for the fields; "enabled" alone would not say which way it went.
    names = {"enabled": "enabled" if content.enabled else "disabled", "details": "metadata"}
    change = ",".join(names.get(f, f) for f in changed(content, before))
    details = {"content_id": content.id, "change": change}
    audit.record(session, actor, audit.BANK_CHANGE, f"bank:{bank.name}", details)
    return content


def remove_content(session: Session, actor: str, bank: Bank, content: BankContent) -> None:
    details = {"content_id": content.id, "change": "removed"}
    store.remove_content(session, content)
    audit.record(session, actor, audit.BANK_CHANGE, f"bank:{bank.name}", details)


def remove_on_appeal(
    session: Session, actor: str, bank: Bank, content: BankContent, reason: Any
) -> bool:
    """Remove for good what an appeal found is not abuse; whether its exchange is told."""
    content_id = content.id
    told = store.remove_on_appeal(session, content, reason, actor)
    details = {"content_id": content_id, "change": "removed on appeal", "reason": reason}
    audit.record(
        session, actor, audit.BANK_CHANGE, f"bank:{bank.name}", details | {"exchange_told": told}
    )
    return told


def import_records(
    session: Session,
    actor: str,
    registry: Registry,
    bank: Bank,
    records: Iterable[Any],
    taxonomy: Taxonomy,
) -> transfer.ImportReport:
    """`banks.transfer.import_records`; the entry counts what came in and what not."""
    report = transfer.import_records(session, registry, bank, records, taxonomy=taxonomy)
    counts = {
        "imported": report.added,
        "duplicates": report.duplicates,
        "bad_lines": len(report.errors),
    }
    audit.record(session, actor, audit.BANK_CHANGE, f"bank:{bank.name}", counts)
    return report


def import_hma_bank(
    session: Session,
    actor: str,
    registry: Registry,
    source: hma_import.HmaBank,
    items: Iterable[hma_import.HmaItem],
    taxonomy: Taxonomy,
    **options: Any,
) -> hma_import.BankImport:
    """`banks.hma_import.write_bank`; the entries say where the bank came from and what
    came with it."""
    report = hma_import.write_bank(session, source, iter(items), registry, taxonomy, **options)
    audit.record(session, actor, audit.BANK_CREATE, f"bank:{source.name}", {"from": "hma"})
    counts = {
        "imported_from_hma": report.added,
        "disabled": report.disabled,
        "exchange_items_left_out": report.exchange_items,
        "items_left_out": len(report.problems),
    }
    audit.record(session, actor, audit.BANK_CHANGE, f"bank:{source.name}", counts)
    return report
