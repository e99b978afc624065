"""Bearer-token authentication and role checks for the API."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request

from hma.tokens import allows
from hma.web.context import read_session, services
from hma.web.errors import ApiError

View = TypeVar("View", bound=Callable[..., Any])


def require(role: str) -> Callable[[View], View]:
    """Let the view run only for a valid token of `role` (or `admin`)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            scheme, _, secret = header.partition(" ")
            if scheme.lower() != "bearer" or not secret.strip():
                raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <token>'")
            token = services().tokens.verify(read_session(), secret.strip())
            if token is None:
                raise ApiError(401, "unauthorized", "the token is unknown or revoked")
            if not allows(token.role, role):
                raise ApiError(403, "forbidden", f"this route needs a token of role {role!r}")
            g.token_name, g.token_role = token.name, token.role
            return view(*args, **kwargs)

        return cast(View, wrapped)

    return decorate


def actor() -> str:
    """Who is acting, as recorded in decisions: the token's name."""
    return f"token:{g.token_name}"


def is_admin() -> bool:
    return bool(g.get("token_role") == "admin")
