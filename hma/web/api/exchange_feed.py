"""Published banks, read by other instances with tokens of role `exchange`.

Each exchange token reads only the banks it was created for: a bank
published to one peer is invisible to every other.
"""

from __future__ import annotations

from typing import cast

from flask import g

from accounts.tokens import readable_banks
from banks import store
from banks.publish import feed, published_banks
from core.names import Role
from hma.web import schemas
from hma.web.api import api
from hma.web.context import db_session, services
from hma.web.errors import ApiError
from hma.web.typed import endpoint


@api.get("/exchange/banks")
@endpoint(
    "The banks published to this token",
    role=Role.EXCHANGE,
    responses={200: schemas.PublishedBankList},
)
def list_published_banks() -> schemas.PublishedBankList:
    session = db_session()
    scope = readable_banks(session, g.grant.name)
    return {
        "banks": [
            {"name": b.name, "description": b.description}
            for b in published_banks(session)
            if b.id in scope
        ]
    }


@api.get("/exchange/banks/<name>/changes")
@endpoint(
    "A published bank's changes after a cursor",
    role=Role.EXCHANGE,
    query=schemas.FeedQuery,
    responses={200: schemas.ChangePage},
    errors={404: "No bank of that name published to this token"},
)
def published_changes(name: str, query: schemas.FeedQuery) -> schemas.ChangePage:
    session = db_session()
    bank = store.get_bank(session, name)
    if not bank.published or bank.id not in readable_banks(session, g.grant.name):
        # Unpublished banks, and banks published to others, are indistinguishable
        # from missing ones to followers.
        raise ApiError(404, "bank_not_found", f"no published bank named {name!r}")
    page = feed(session, bank, services().taxonomy, query.after, query.limit)
    changes = cast(list[schemas.Change], page.changes)
    return {"changes": changes, "next_after": page.next_after, "has_more": page.has_more}
