"""Bearer-token authentication and role checks for the API."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request

from accounts.tokens import Grant, allows
from accounts.users import find_user
from actioners.review import visible_queues
from core.names import Role
from hma.web.context import read_session, services
from hma.web.errors import ApiError

View = TypeVar("View", bound=Callable[..., Any])


def require(role: str, person: bool = False) -> Callable[[View], View]:
    """Let the view run only for a valid token of `role` (or `admin`).

    `person`: only a personal token (one that belongs to a console user) may
    take this step: deciding and revealing are a person's acts, counted
    against that person's exposure limit and two-person identity.
    """

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            authenticate((role,), person)
            return view(*args, **kwargs)

        return cast(View, wrapped)

    return decorate


def authenticate(roles: tuple[str, ...] | None, person: bool = False) -> Grant:
    """The request's token, if valid and of one of `roles` (None: any role) or `admin`.

    Raises ApiError 401 or 403 otherwise; the grant is kept in `g.grant`.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <token>'")
    token = services().tokens.verify(read_session(), secret.strip())
    if token is None:
        raise ApiError(401, "unauthorized", "the token is unknown or revoked")
    if roles is not None and not any(allows(token.role, role) for role in roles):
        wanted = " or ".join(repr(role) for role in roles)
        raise ApiError(403, "forbidden", f"this route needs a token of role {wanted}")
    if person and token.username is None:
        raise ApiError(
            403,
            "personal_token_required",
            "this step is a person's: use a token created for your console account"
            " (hma token create --user NAME)",
        )
    g.grant = token
    return token


def optional_grant() -> Grant | None:
    """The request's token if it sent one (any role; a wrong one is refused as ever),
    for routes that answer everyone but show more to a token."""
    if not request.headers.get("Authorization"):
        return None
    return authenticate(None)


def actor() -> str:
    """Who is acting, as recorded in decisions: the person behind a personal
    token, else the token."""
    grant: Grant = g.grant
    return grant.actor


def acting_username() -> str | None:
    """The console user a personal token acts as (None for a service token)."""
    grant: Grant = g.grant
    return grant.username


def is_admin() -> bool:
    grant: Grant | None = g.get("grant")
    return grant is not None and grant.role == Role.ADMIN


def case_queues() -> frozenset[str] | None:
    """The review queues whose cases this token's bearer may open (None: all)."""
    grant: Grant = g.grant
    member_of: list[str] = []
    if grant.username is not None:
        user = find_user(read_session(), grant.username)
        member_of = list(user.queues or []) if user is not None else []
    return visible_queues(grant.username, grant.role, member_of)
