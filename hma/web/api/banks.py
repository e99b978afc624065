"""Banks and their content: the curator routes."""

from __future__ import annotations

from typing import Any, cast

from banks import curation, store, validation
from banks.models import Bank, BankContent
from core.names import Role
from hashers import SignalType
from hashers.signals import PDQ
from hma.web import schemas
from hma.web.api import api
from hma.web.auth import actor
from hma.web.context import account_keys, db_session, services
from hma.web.errors import ApiError
from hma.web.inputs import parse_signals
from hma.web.typed import endpoint


def bank_json(bank: Bank, content_count: int) -> schemas.Bank:
    return {
        "name": bank.name,
        "description": bank.description,
        "enabled": bank.enabled,
        "pdq_threshold": bank.thresholds.get(PDQ.name),
        "thresholds": dict(bank.thresholds),
        "published": bank.published,
        "reshare": bank.reshare,
        "trust": bank.trust,
        "account_key": bank.account_key,
        "content_count": content_count,
        "created_at": bank.created_at.isoformat(),
        "updated_at": bank.updated_at.isoformat(),
    }


def content_json(bank: Bank, content: BankContent) -> schemas.Content:
    return {
        "id": content.id,
        "bank": bank.name,
        "enabled": content.enabled,
        "tags": list(content.tags),
        "metadata": dict(content.details),
        "source": content.source,
        "signals": [_stored_signal(s.signal_type, s.value, s.quality) for s in content.signals],
        "created_at": content.created_at.isoformat(),
        "updated_at": content.updated_at.isoformat(),
    }


def _stored_signal(kind: str, value: str, quality: int | None) -> schemas.StoredSignal:
    signal: schemas.StoredSignal = {"type": kind, "value": value}
    if quality is not None:
        signal["quality"] = quality
    return signal


_NO_BANK = {404: "No bank of that name"}
_NO_CONTENT = {404: "No such bank, or no such content in it"}


@api.get("/banks")
@endpoint("List the banks", role=Role.CURATOR, responses={200: schemas.BankList})
def list_banks() -> schemas.BankList:
    summaries = store.list_banks(db_session())
    return {"banks": [bank_json(s.bank, s.content_count) for s in summaries]}


@api.post("/banks")
@endpoint(
    "Create a bank",
    role=Role.CURATOR,
    body=schemas.BankCreate,
    responses={201: schemas.Bank},
    errors={409: "A bank of that name exists"},
)
def create_bank(body: schemas.BankCreate) -> tuple[schemas.Bank, int]:
    session = db_session()
    bank = curation.create_bank(
        session,
        actor(),
        body.name,
        description=body.description or "",
        enabled=body.enabled is not False,
        account_key=body.account_key,
        keys=account_keys(),
    )
    session.commit()
    return bank_json(bank, 0), 201


@api.get("/banks/<name>")
@endpoint("A bank", role=Role.CURATOR, responses={200: schemas.Bank}, errors=_NO_BANK)
def get_bank(name: str) -> schemas.Bank:
    session = db_session()
    bank = store.get_bank(session, name)
    return bank_json(bank, store.count_content(session, bank))


def _thresholds(body: schemas.BankChange) -> dict[SignalType, int | None]:
    """`pdq_threshold` and `thresholds` as one change, by signal type."""
    registry = services().scanner.registry
    changes = {registry.signal_type(name): value for name, value in (body.thresholds or {}).items()}
    if "pdq_threshold" in body.model_fields_set:
        changes[PDQ] = body.pdq_threshold
    return changes


@api.patch("/banks/<name>")
@endpoint(
    "Change a bank: rename, describe, enable, threshold, publish, trust",
    role=Role.CURATOR,
    body=schemas.BankChange,
    responses={200: schemas.Bank},
    errors=_NO_BANK | {409: "A bank of the new name exists"},
)
def update_bank(name: str, body: schemas.BankChange) -> schemas.Bank:
    session = db_session()
    bank = store.get_bank(session, name)
    sent = body.model_fields_set
    curation.change_bank(
        session,
        actor(),
        bank,
        services().taxonomy,
        name=body.name,
        description=body.description,
        enabled=body.enabled,
        thresholds=_thresholds(body),
        published=body.published,
        trust=body.trust,
        reshare=body.reshare,
        account_key=body.account_key if "account_key" in sent else store.UNCHANGED,
        keys=account_keys(),
    )
    session.commit()
    return bank_json(bank, store.count_content(session, bank))


@api.delete("/banks/<name>")
@endpoint(
    "Delete a bank and its content", role=Role.CURATOR, responses={204: None}, errors=_NO_BANK
)
def delete_bank(name: str) -> tuple[str, int]:
    session = db_session()
    curation.delete_bank(session, actor(), store.get_bank(session, name))
    session.commit()
    return "", 204


@api.get("/banks/<name>/content")
@endpoint(
    "A page of a bank's content, oldest first",
    role=Role.CURATOR,
    query=schemas.ContentQuery,
    responses={200: schemas.ContentPage},
    errors=_NO_BANK,
)
def list_content(name: str, query: schemas.ContentQuery) -> schemas.ContentPage:
    session = db_session()
    bank = store.get_bank(session, name)
    page = store.list_content(
        session, bank, after=query.after, limit=query.limit, keys=account_keys()
    )
    return {
        "content": [content_json(bank, c) for c in page],
        "next_after": page[-1].id if len(page) == query.limit else None,
    }


@api.post("/banks/<name>/content")
@endpoint(
    "Add content: an upload to hash, or signals",
    role=Role.CURATOR,
    body=schemas.ContentAdd,
    form=schemas.UploadForm,
    responses={201: schemas.AddedContent},
    errors=_NO_BANK | {413: "The upload is over a size, pixel or length limit"},
)
def add_content(
    name: str, body: schemas.ContentAdd | schemas.UploadForm
) -> tuple[schemas.AddedContent, int]:
    session = db_session()
    bank = store.get_bank(session, name)
    skipped: list[dict[str, Any]] = []
    if isinstance(body, schemas.UploadForm):
        hashed = services().scanner.hash(body.file)
        signals = [s for s in hashed if s.usable]
        skipped = [
            s.to_dict() | {"reason": "quality under the configured minimum"}
            for s in hashed
            if not s.usable
        ]
        tags = validation.split_tags(body.tags, ",")
        metadata = validation.metadata_text(body.metadata)
    else:
        signals = parse_signals(body.signals)
        tags = validation.tags(body.tags)
        metadata = validation.metadata(body.metadata)
    if not signals:
        raise ApiError(400, "no_signals", "the content produced no usable signal")
    content = curation.add_content(
        session,
        actor(),
        bank,
        signals,
        services().taxonomy,
        tags=tags,
        metadata=metadata,
        keys=account_keys(),
    )
    session.commit()
    added = content_json(bank, content) | {"skipped_signals": skipped}
    return cast(schemas.AddedContent, added), 201


@api.get("/banks/<name>/content/<id:content_id>")
@endpoint(
    "One piece of content", role=Role.CURATOR, responses={200: schemas.Content}, errors=_NO_CONTENT
)
def get_content(name: str, content_id: int) -> schemas.Content:
    session = db_session()
    bank = store.get_bank(session, name)
    return content_json(bank, store.get_content(session, bank, content_id))


@api.patch("/banks/<name>/content/<id:content_id>")
@endpoint(
    "Enable, disable, retag or annotate content",
    role=Role.CURATOR,
    body=schemas.ContentChange,
    responses={200: schemas.Content},
    errors=_NO_CONTENT,
)
def update_content(name: str, content_id: int, body: schemas.ContentChange) -> schemas.Content:
    session = db_session()
    bank = store.get_bank(session, name)
    content = store.get_content(session, bank, content_id)
    curation.change_content(
        session,
        actor(),
        bank,
        content,
        services().taxonomy,
        enabled=body.enabled,
        tags=body.tags,
        metadata=body.metadata,
    )
    session.commit()
    return content_json(bank, content)


@api.delete("/banks/<name>/content/<id:content_id>")
@endpoint("Remove content", role=Role.CURATOR, responses={204: None}, errors=_NO_CONTENT)
def delete_content(name: str, content_id: int) -> tuple[str, int]:
    session = db_session()
    bank = store.get_bank(session, name)
    curation.remove_content(session, actor(), bank, store.get_content(session, bank, content_id))
    session.commit()
    return "", 204


@api.post("/banks/<name>/content/<id:content_id>/remove-on-appeal")
@endpoint(
    "Remove content an appeal found not to be abuse, for good, telling its exchange",
    role=Role.CURATOR,
    body=schemas.AppealRemoval,
    responses={200: schemas.AppealRemoved},
    errors=_NO_CONTENT,
)
def remove_content_on_appeal(
    name: str, content_id: int, body: schemas.AppealRemoval
) -> schemas.AppealRemoved:
    """An appeal found the content is not abuse: remove it for good, say why, and
    tell its exchange (when it takes feedback)."""
    session = db_session()
    bank = store.get_bank(session, name)
    content = store.get_content(session, bank, content_id)
    told = curation.remove_on_appeal(session, actor(), bank, content, body.reason)
    session.commit()
    return {"removed": content_id, "exchange_told": told}
