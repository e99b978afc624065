"""The per-process services a request needs, and its database session."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g
from sqlalchemy.orm import Session

from accounts.tokens import TokenCache
from actioners.review import ReviewPolicy
from actioners.scan import Scanner
from banks.egress import Egress
from banks.fetch import MediaFetcher
from banks.taxonomy import Taxonomy
from hashers.account_keys import AccountKeys
from hma.db import Database
from hma.exchanges import Exchanges
from hma.secrets import SecretBox
from hma.settings import Settings

EXTENSION = "hma"


@dataclass
class Services:
    settings: Settings
    database: Database
    scanner: Scanner
    taxonomy: Taxonomy
    review: ReviewPolicy
    #: The process's one outbound HTTP client (see hma.assembly.build_egress).
    egress: Egress
    #: Seals and unseals credentials and kept uploads with the deployment's key.
    box: SecretBox
    exchanges: Exchanges
    tokens: TokenCache
    fetcher: MediaFetcher


def services() -> Services:
    found: Services = current_app.extensions[EXTENSION]
    return found


def account_keys() -> AccountKeys:
    """The deployment's account keys, as the registry holds them."""
    return services().scanner.registry.account_keys


def db_session() -> Session:
    """This request's session; rolled back and closed when the request ends.

    Views commit explicitly once their work is complete, so an error raised
    half-way leaves nothing behind.
    """
    if "db_session" not in g:
        g.db_session = services().database.sessions()
    session: Session = g.db_session
    return session


def read_session() -> Session:
    """This request's session for a request that writes nothing (see `Database.reads`).

    Reads see each committed change as it lands, statement by statement: for
    lookups that is what they want anyway.
    """
    if "read_session" not in g:
        g.read_session = services().database.reads()
    session: Session = g.read_session
    return session


def close_session(_exc: BaseException | None = None) -> None:
    for name in ("db_session", "read_session"):
        session = g.pop(name, None)
        if session is not None:
            session.close()
