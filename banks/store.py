"""Banks and their content: the operations curators perform.

Functions take a session and never commit: the caller (an HTTP request, a CLI
command, a sync) decides where the transaction ends, so that a batch of
changes lands together or not at all. Every signal that enters or leaves a
bank is written to the change log in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, delete, func, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from banks import changelog, validation
from banks.models import (
    AppealRemoval,
    Bank,
    BankContent,
    BankSignal,
    Exchange,
    ExchangeFeedback,
    SignalChange,
    short_hash,
)
from banks.publish import check_publishable
from banks.taxonomy import Taxonomy, shipped_taxonomy
from core.errors import (
    BankExists,
    BankNotFound,
    Conflict,
    ContentNotFound,
    HashingError,
    InvalidInput,
)
from database import utcnow
from hashers import Signal, SignalType
from hashers.account_keys import NO_KEYS, AccountKeys, check_key_name
from hashers.signals import ACCOUNT, DOMAIN, KEYWORD, URL

MAX_PAGE = 1000


@dataclass(frozen=True)
class BankSummary:
    bank: Bank
    content_count: int


def create_bank(
    session: Session,
    name: str,
    description: str = "",
    enabled: bool = True,
    matching_ratio: float = 1.0,
) -> Bank:
    bank = Bank(
        name=validation.bank_name(name),
        description=description,
        enabled=enabled,
        matching_ratio=validation.matching_ratio(matching_ratio),
    )
    session.add(bank)
    _flush_unique_name(session, bank)
    return bank


def _flush_unique_name(session: Session, bank: Bank) -> None:
    """Flush, turning a clash on the unique bank name into BankExists."""
    name = bank.name  # read now: a rolled-back savepoint expires the attribute
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise BankExists(f"a bank named {name!r} already exists") from None


def find_bank(session: Session, name: str) -> Bank | None:
    return session.scalar(select(Bank).where(Bank.name == name))


def get_bank(session: Session, name: str) -> Bank:
    bank = find_bank(session, name)
    if bank is None:
        raise BankNotFound(f"no bank named {name!r}")
    return bank


def all_banks(session: Session) -> list[Bank]:
    """Every bank, in the order they were created."""
    return list(session.scalars(select(Bank).order_by(Bank.id)))


def bank_names(session: Session) -> list[str]:
    return list(session.scalars(select(Bank.name).order_by(Bank.name)))


def list_banks(session: Session) -> list[BankSummary]:
    counts = (
        select(BankContent.bank_id, func.count().label("n"))
        .group_by(BankContent.bank_id)
        .subquery()
    )
    rows = session.execute(
        select(Bank, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.bank_id == Bank.id)
        .order_by(Bank.name)
    )
    return [BankSummary(bank, int(n)) for bank, n in rows]


def count_disabled(session: Session, bank: Bank) -> int:
    """How much of the bank's content is disabled (by a curator, an exchange, or a date)."""
    disabled = select(func.count()).where(BankContent.bank_id == bank.id, ~BankContent.enabled)
    return int(session.scalar(disabled) or 0)


def count_content(session: Session, bank: Bank) -> int:
    query = select(func.count()).select_from(BankContent).where(BankContent.bank_id == bank.id)
    return int(session.scalar(query) or 0)


#: Sentinel for "leave unchanged" where None is a meaningful value.
UNCHANGED: Any = object()


def update_bank(
    session: Session,
    bank: Bank,
    *,
    name: str | None = None,
    description: str | None = None,
    enabled: bool | None = None,
    thresholds: Mapping[SignalType, int | None] | None = None,
    published: bool | None = None,
    taxonomy: Taxonomy | None = None,
    trust: int | None = None,
    reshare: bool | None = None,
    matching_ratio: float | None = None,
    account_key: str | None = UNCHANGED,
    keys: AccountKeys = NO_KEYS,
) -> Bank:
    """Rename, describe, enable or disable a bank, set its match distance for Hamming
    types (`thresholds`, a type's None: back to the deployment's),
    publish it to tokens of role `exchange` (`reshare`: with what came from exchanges),
    or set how far reviewers trust it, or the share of HMA-API lookups it takes part in.

    Takes effect on the next lookup: these are read at query time, not indexed.
    Publishing needs every enabled item to carry a primary taxonomy tag. Naming an
    `account_key` turns the accounts the bank holds into keyed hashes under that key
    of `keys`, for good.
    """
    if account_key is not UNCHANGED and account_key != bank.account_key:
        _key_accounts(session, bank, account_key, keys)
    if name is not None and name != bank.name:
        bank.name = validation.bank_name(name)
    if description is not None:
        bank.description = description
    if matching_ratio is not None:
        bank.matching_ratio = validation.matching_ratio(matching_ratio)
    if enabled is not None:
        bank.enabled = enabled
    if thresholds:
        bank.thresholds = _with_thresholds(bank.thresholds, thresholds)
    if enabled is not None or thresholds:
        # Lookups widen their query of a type to the widest enabled bank's threshold.
        changelog.mark_changed(session)
    if published and not bank.published:
        check_publishable(session, bank, taxonomy or shipped_taxonomy())
    if published is not None:
        bank.published = published
    if trust is not None:
        bank.trust = validation.trust(trust)
    if reshare is not None:
        bank.reshare = reshare
    _flush_unique_name(session, bank)
    return bank


def _with_thresholds(
    current: Mapping[str, int], changes: Mapping[SignalType, int | None]
) -> dict[str, int]:
    """A new mapping (never the stored one changed in place, which the ORM would miss)."""
    merged = dict(current)
    for signal_type, value in changes.items():
        checked = validation.bank_threshold(signal_type, value)
        if checked is None:
            merged.pop(signal_type.name, None)
        else:
            merged[signal_type.name] = checked
    return merged


def delete_bank(session: Session, bank: Bank) -> None:
    """Remove a bank, its content and signals, logging every signal's removal."""
    log_removals(session, BankSignal.bank_id == bank.id)
    session.execute(delete(Bank).where(Bank.id == bank.id))
    session.expunge(bank)


def _key_accounts(session: Session, bank: Bank, account_key: str | None, keys: AccountKeys) -> None:
    """Keep the bank's accounts as keyed hashes under `account_key` from now on.

    One way only: a keyed hash cannot be turned back into the account, nor
    keyed under another key, so a bank that holds keyed accounts keeps its key."""
    rows = session.execute(
        select(BankSignal, BankContent.enabled)
        .join(BankContent, BankSignal.content_id == BankContent.id)
        .where(BankSignal.bank_id == bank.id, BankSignal.signal_type == ACCOUNT.name)
    ).all()
    accounts = [signal for signal, _ in rows]
    indexed = {signal.id for signal, enabled in rows if enabled}
    if bank.account_key is not None and any(s.value.startswith("keyed:") for s in accounts):
        raise Conflict(
            f"bank {bank.name!r} keeps accounts keyed under {bank.account_key!r};"
            " they cannot be read back or keyed again",
            code="account_key_in_use",
        )
    if account_key is not None:
        keys.check(check_key_name(account_key))
        keyed = {s.id: keys.keyed(s.value, account_key) for s in accounts}
        changing = [s for s in accounts if keyed[s.id] != s.value]
        # Lookups see the change through the log, which follows enabled content only.
        logged = [s for s in changing if s.id in indexed]
        changelog.record(session, "remove", logged)
        for signal in changing:
            signal.value = keyed[signal.id]
        session.flush()
        changelog.record(session, "add", logged)
        changelog.key_accounts(session, bank.id, lambda value: keys.keyed(value, account_key))
    bank.account_key = account_key


def add_content(
    session: Session,
    bank: Bank,
    signals: Sequence[Signal],
    *,
    tags: Sequence[str] = (),
    metadata: dict[str, Any] | None = None,
    source: str = "api",
    taxonomy: Taxonomy | None = None,
    note: str | None = None,
    origin_exchange: str | None = None,
    keys: AccountKeys = NO_KEYS,
) -> BankContent:
    """Add one piece of content with its signals (accounts keyed with `keys` in a bank
    that keeps them keyed).

    Tags are normalised to the taxonomy (the shipped one if none is given); a published bank
    takes only content with a primary tag, because followers receive it.
    Signals marked unusable (a PDQ under the quality minimum) are refused by
    the caller before this point; a bank holds only signals that can match.
    """
    if not signals:
        raise InvalidInput("content needs at least one signal", code="no_signals")
    signals = keys.protect(bank.account_key, signals)
    checked = _checked_tags(bank, tags, taxonomy)
    content = BankContent(
        bank_id=bank.id,
        tags=checked,
        details=validation.metadata(metadata),
        source=source,
        origin_exchange=origin_exchange,
        note=validation.note(note),
    )
    content.signals = [
        BankSignal(
            bank_id=bank.id,
            signal_type=s.type,
            value=s.value,
            quality=s.quality,
        )
        for s in signals
    ]
    session.add(content)
    session.flush()
    changelog.record(session, "add", content.signals)
    return content


def get_content(session: Session, bank: Bank, content_id: int) -> BankContent:
    content = session.scalar(
        select(BankContent)
        .where(BankContent.id == content_id, BankContent.bank_id == bank.id)
        .options(selectinload(BankContent.signals))
    )
    if content is None:
        raise ContentNotFound(f"bank {bank.name!r} has no content {content_id}")
    return content


#: The types whose stored spelling differs from what people type (hashes are
#: only lower-cased): a search tries each.
SPELLED_TYPES = (URL, DOMAIN, ACCOUNT, KEYWORD)


def searched_values(
    value: str, account_key: str | None = None, keys: AccountKeys = NO_KEYS
) -> set[str]:
    """What a search for `value` may be stored as: as typed, in lower case, and as each
    of `SPELLED_TYPES` that takes it writes it (an account keyed, in a keyed bank)."""
    typed = value.strip()
    found = {typed, typed.lower()}
    for kind in SPELLED_TYPES:
        try:
            stored = kind.normalize(typed)
            if kind.keyable and account_key is not None:
                stored = keys.keyed(stored, account_key)
        except HashingError:
            continue
        found.add(stored)
    return found


def list_content(
    session: Session,
    bank: Bank,
    *,
    after: int = 0,
    limit: int = 100,
    value: str | None = None,
    tag: str | None = None,
    keys: AccountKeys = NO_KEYS,
) -> list[BankContent]:
    """One page of a bank's content in id order; pass the last id as `after` for the next.

    `value`: only items holding a signal of this value, as typed, in lower case (a
    hash), or as a URL, domain, account or keyword is stored (`searched_values`);
    `tag`: only items with this tag.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be from 1 to {MAX_PAGE}", code="invalid_paging")
    query = (
        select(BankContent)
        .where(BankContent.bank_id == bank.id, BankContent.id > after)
        .order_by(BankContent.id)
        .limit(limit)
        .options(selectinload(BankContent.signals))
    )
    if value:
        wanted = searched_values(value, bank.account_key, keys)
        query = query.where(
            BankContent.id.in_(
                select(BankSignal.content_id).where(
                    BankSignal.bank_id == bank.id,
                    BankSignal.value_hash.in_({short_hash(v) for v in wanted}),
                    BankSignal.value.in_(wanted),
                )
            )
        )
    if tag:
        # Tags are a JSON list; its text holds each tag as a JSON string, on both engines.
        quoted = json.dumps(tag.strip())
        pattern = quoted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(cast(BankContent.tags, Text).like(f"%{pattern}%", escape="\\"))
    return list(session.scalars(query))


def update_content(
    session: Session,
    content: BankContent,
    *,
    enabled: bool | None = None,
    tags: Sequence[str] | None = None,
    metadata: dict[str, Any] | None = None,
    taxonomy: Taxonomy | None = None,
    disabled_until: datetime | None = UNCHANGED,
    note: str | None = UNCHANGED,
) -> BankContent:
    """Change flags and descriptions; disabled content stays stored but never matches.

    Content disabled with a `disabled_until` time is enabled again at that
    time by `enable_due`; enabling it clears the time.

    Disabling and enabling are logged as removals and additions of the content's
    signals, so every process's indexes drop or regain them as deltas; new tags
    or metadata are logged as updates, for the followers of a published bank.
    Enabled content of a published bank must keep a primary taxonomy tag.
    """
    taxonomy = taxonomy or shipped_taxonomy()
    bank = session.get_one(Bank, content.bank_id)
    new_tags = content.tags
    if tags is not None:
        new_tags = validation.tags(taxonomy.normalize_all(tags))
    new_enabled = content.enabled if enabled is None else enabled
    if bank.published and new_enabled:
        taxonomy.check_shareable(new_tags)
    if new_enabled != content.enabled:
        content.enabled = new_enabled
        changelog.record(session, "add" if new_enabled else "remove", content.signals)
    if new_enabled:
        content.disabled_until = None
    elif disabled_until is not UNCHANGED:
        content.disabled_until = disabled_until
    if note is not UNCHANGED:
        content.note = validation.note(note)
    described = False
    if tags is not None and new_tags != content.tags:
        content.tags = new_tags
        described = True
    if metadata is not None:
        content.details = validation.metadata(metadata)
        described = True
    if described and content.enabled:
        changelog.record(session, "update", content.signals)
    session.flush()
    return content


def enable_due(session: Session, now: datetime | None = None) -> int:
    """Enable the content whose `disabled_until` has come; how many items.

    A scheduler job calls this every minute, so such content is matchable
    again within a minute of its time.
    """
    due = list(
        session.scalars(
            select(BankContent)
            .where(~BankContent.enabled, BankContent.disabled_until <= (now or utcnow()))
            .options(selectinload(BankContent.signals))
            .limit(MAX_PAGE)
        )
    )
    for content in due:
        content.enabled, content.disabled_until = True, None
        changelog.record(session, "add", content.signals)
    session.flush()
    return len(due)


def _checked_tags(bank: Bank, tags: Sequence[str], taxonomy: Taxonomy | None) -> list[str]:
    """Tags normalised to the taxonomy (the shipped one if none is given), and
    shareable if the bank is published."""
    taxonomy = taxonomy or shipped_taxonomy()
    normal = validation.tags(taxonomy.normalize_all(validation.tags(tags)))
    if bank.published:
        taxonomy.check_shareable(normal)
    return normal


def remove_content(session: Session, content: BankContent) -> None:
    log_removals(session, BankSignal.content_id == content.id)
    session.execute(delete(BankContent).where(BankContent.id == content.id))
    session.expunge(content)


MAX_REASON = 1000


def remove_on_appeal(session: Session, content: BankContent, reason: str, actor: str) -> bool:
    """Remove content from its bank because an appeal found it is not abuse.

    For content that came from an exchange, the removal is remembered (the
    sync engine never adds the item back, however often the exchange sends
    it), and an exchange that takes feedback is told the item is a false
    positive. Returns whether an exchange was told. The caller audits it.
    """
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise InvalidInput(
            f"say why, in 1 to {MAX_REASON} characters: the reason is kept with the removal",
            code="invalid_reason",
        )
    told = False
    if content.exchange_id is not None and content.upstream_id is not None:
        exchange = session.get_one(Exchange, content.exchange_id)
        session.add(
            AppealRemoval(
                exchange_id=exchange.id,
                upstream_id=content.upstream_id,
                reason=reason.strip(),
                removed_by=actor,
            )
        )
        if exchange.feedback_enabled:
            session.add(
                ExchangeFeedback.about(content, 0, "negative", utcnow(), appeal=reason.strip())
            )
            told = True
    remove_content(session, content)
    session.flush()
    return told


def log_removals(session: Session, condition: Any) -> None:
    """Log the removal of every bank signal matching `condition`, in one statement.

    Callers delete the signals themselves afterwards (or their content, which cascades).
    """
    selected = select(
        literal("remove"),
        BankSignal.bank_id,
        BankSignal.content_id,
        BankSignal.id,
        BankSignal.signal_type,
        BankSignal.value,
        literal(utcnow(), SignalChange.created_at.type),
    ).where(condition)
    changelog.lock(session)
    session.execute(
        insert(SignalChange).from_select(
            ["op", "bank_id", "content_id", "signal_id", "signal_type", "value", "created_at"],
            selected,
        )
    )
