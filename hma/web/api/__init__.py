"""The JSON API under /api/v1."""

from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api/v1")

# Route modules attach their views to `api` when imported.
from hma.web.api import (  # noqa: E402, F401
    banks,
    cases,
    content,
    exchange_feed,
    exchanges,
    meta,
    metrics,
    reporters,
    reports,
)
