"""HMA's probes (`/status`, `/status/live`), its site map and its API description."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app

from hma import __version__
from hma.web.context import services
from hma.web.hma_api import PREFIXES, PROBES, answer, hma_api

#: How long the indexes may go without catching up before `/status` calls them stale
#: (HMA's INDEX_CACHE_MAX_STALE_SEC default).
STALE_SECONDS = 65.0


def _word(text: str, status: int) -> Response:
    # Plain words under text/html, as HMA answers: probes compare the text.
    return Response(text, status=status, mimetype="text/html")


@hma_api.get("/status")
def status() -> Response:
    """Readiness: 503 until the indexes are loaded, or while they fall behind."""
    indexes = services().scanner.indexes
    if not indexes.built:
        return _word("INDEX-NOT-LOADED", 503)
    if not indexes.caught_up_within(STALE_SECONDS):
        return _word("INDEX-STALE", 503)
    return _word("I-AM-ALIVE", 200)


@hma_api.get("/status/live")
def live() -> Response:
    """Liveness: the process answers, whatever the indexes are doing."""
    return _word("I-AM-ALIVE", 200)


@hma_api.get("/site-map")
def site_map() -> Response:
    """Every route this server has, HMA's and ours."""
    rules = {rule.rule for rule in current_app.url_map.iter_rules()}
    return answer(sorted(rules))


@hma_api.get("/openapi/openapi.json")
def openapi() -> Response:
    """A description of HMA's API as served here: its paths, methods and summaries."""
    return answer(describe())


def describe() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for rule in current_app.url_map.iter_rules():
        if not rule.endpoint.startswith("hma_api."):
            continue
        if rule.rule not in PROBES and not rule.rule.startswith(PREFIXES):
            continue
        path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
        parameters = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "integer" if name.endswith("_id") else "string"},
            }
            for name in sorted(rule.arguments)
        ]
        view = current_app.view_functions[rule.endpoint]
        summary = (view.__doc__ or rule.endpoint).strip().splitlines()[0]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = {
                "summary": summary,
                "parameters": parameters,
                "operationId": f"{rule.endpoint.removeprefix('hma_api.')}_{method.lower()}",
                "responses": {"200": {"description": "HMA 1.1.7's answer"}},
            }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Open Media Match API", "version": __version__},
        "paths": dict(sorted(paths.items())),
    }
