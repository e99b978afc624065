"""Meta HMA's HTTP API (`/c`, `/h`, `/m`, `/status`) on our banks, indexes and exchanges.

Clients built for HMA 1.1.7 (ROOST's Coop, for one) switch to us by changing
their base URL. Paths, parameters, payloads, status codes and error texts are
HMA's; docs/hma-compatibility.md lists where we differ and why. Unlike HMA,
every route but the two health probes needs a token: in the Authorization
header, or in the base URL (`/t/<token>/`, see `hma.web.path_token`).

Errors have HMA's shapes: `{"message": ...}`, or for a request whose
declared model does not validate, a 422 with pydantic's list of errors.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn, TypeVar

from flask import Blueprint, Response, request
from pydantic import BaseModel, ValidationError

from core.errors import ProjectError
from core.names import Role
from hma.web.auth import authenticate
from hma.web.errors import error_shapes

hma_api = Blueprint("hma_api", __name__)

#: Roles by path prefix: curators curate; lookups and hashing are ingest's, and a
#: curator's too (HMA clients such as Coop do both with one address).
ROLES = {
    "/c/": (Role.CURATOR,),
    "/h/": (Role.INGEST, Role.CURATOR),
    "/m/": (Role.INGEST, Role.CURATOR),
}
#: Readiness and liveness probes, which say one word and nothing else.
PROBES = frozenset({"/status", "/status/live"})
#: Every path this API serves starts with one of these, or is one of PROBES.
PREFIXES = ("/c/", "/h/", "/m/", "/site-map", "/openapi/")


def serves(path: str) -> bool:
    """Whether `path` belongs to HMA's API (after slashes are merged)."""
    return path in PROBES or path.startswith(PREFIXES)


class HmaError(ProjectError):
    """An error answered in HMA's shape, `{"message": ...}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def fail(status: int, message: str) -> NoReturn:
    raise HmaError(status, message)


def answer(body: Any, status: int = 200) -> Response:
    """JSON with sorted keys, as HMA writes it."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n"
    return Response(text, status=status, mimetype="application/json")


def message(status: int, text: str) -> Response:
    return answer({"message": text}, status)


class Invalid422(ProjectError):
    """A declared model did not validate: HMA answers 422 with pydantic's errors."""

    def __init__(self, error: ValidationError) -> None:
        super().__init__(str(error))
        self.errors = json.loads(error.json())


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Invalid422(exc) from None


def json_body() -> Any:
    """The JSON body of a route that reads it by hand (415 and 400 as Flask gives them)."""
    return request.get_json()


@hma_api.before_request
def _authenticate() -> None:
    if request.path in PROBES:
        return
    roles = next((r for prefix, r in ROLES.items() if request.path.startswith(prefix)), None)
    authenticate(roles)


@hma_api.errorhandler(HmaError)
def _hma_error(exc: HmaError) -> Response:
    return message(exc.status, str(exc))


@hma_api.errorhandler(Invalid422)
def _invalid(exc: Invalid422) -> Response:
    return answer(exc.errors, 422)


# Every other error on these paths (a token refused, an unknown path, bad media...)
# is answered by the app's handlers, in HMA's shape.
error_shapes.append((serves, lambda text: {"message": text}))

# Route modules attach their views to `hma_api` when imported.
from hma.web.hma_api import core, curation, exchanges, hashing, matching  # noqa: E402, F401
