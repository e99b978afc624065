"""Published banks, read by other instances with tokens of role `exchange`.

Each exchange token reads only the banks it was created for: a bank
published to one peer is invisible to every other.
"""

from __future__ import annotations

from typing import Any

from flask import g

from banks import store
from banks.publish import feed, published_banks
from hma.tokens import readable_banks
from hma.web.api import api
from hma.web.auth import require
from hma.web.context import db_session, services
from hma.web.errors import ApiError
from hma.web.inputs import int_arg


@api.get("/exchange/banks")
@require("exchange")
def list_published_banks() -> dict[str, Any]:
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
@require("exchange")
def published_changes(name: str) -> dict[str, Any]:
    session = db_session()
    bank = store.get_bank(session, name)
    if not bank.published or bank.id not in readable_banks(session, g.grant.name):
        # Unpublished banks, and banks published to others, are indistinguishable
        # from missing ones to followers.
        raise ApiError(404, "bank_not_found", f"no published bank named {name!r}")
    page = feed(session, bank, services().taxonomy, int_arg("after", 0), int_arg("limit", 1000))
    return {"changes": page.changes, "next_after": page.next_after, "has_more": page.has_more}
