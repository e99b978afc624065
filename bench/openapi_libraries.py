"""What typed request/response handling costs a request, by library.

    python bench/openapi_libraries.py [--requests 5000]

The API validates its requests with pydantic models and generates its
OpenAPI document from them. This measures, in one process, the time per
request of the same two routes (a JSON POST with a list of signals, a GET
with query parameters) served by plain Flask with no validation, by Flask
with pydantic called directly, by the API's own `hma.web.typed.endpoint`,
and by each library that could do the work
for us: spectree and flask-openapi3 (skipped when not installed: `pip
install spectree flask-openapi3`). Each route answers a typed response.
Requests go through Flask's test client, so the figures are the framework's
own cost without the network; only the differences between rows matter.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The project root in place of bench/, whose http.py would hide the standard library's.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from flask import Flask, jsonify, request
from pydantic import BaseModel, Field

SIGNALS = {"signals": [{"type": "pdq", "value": "f" * 64}, {"type": "md5", "value": "a" * 32}]}


class SignalIn(BaseModel):
    type: str = Field(min_length=1, max_length=32)
    value: str = Field(min_length=1, max_length=100_000)


class MatchIn(BaseModel):
    signals: list[SignalIn] = Field(min_length=1)


class Match(BaseModel):
    bank: str
    content_id: int
    distance: int


class MatchOut(BaseModel):
    signals: list[SignalIn]
    matches: list[Match]


class Paging(BaseModel):
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0)


class Page(BaseModel):
    total: int
    limit: int


def answer(signals: list[dict[str, Any]]) -> dict[str, Any]:
    return {"signals": signals, "matches": [{"bank": "known", "content_id": 1, "distance": 3}]}


def plain() -> Flask:
    app = Flask("plain")

    @app.post("/match")
    def match() -> Any:
        return jsonify(answer(request.get_json()["signals"]))

    @app.get("/cases")
    def cases() -> Any:
        return {"total": 3, "limit": int(request.args.get("limit", 50))}

    return app


def pydantic_direct() -> Flask:
    app = Flask("pydantic")

    @app.post("/match")
    def match() -> Any:
        body = MatchIn.model_validate(request.get_json())
        out = MatchOut.model_validate(answer([s.model_dump() for s in body.signals]))
        return app.response_class(out.model_dump_json(), mimetype="application/json")

    @app.get("/cases")
    def cases() -> Any:
        query = Paging.model_validate(request.args.to_dict())
        return Page(total=3, limit=query.limit).model_dump()

    return app


def with_typed_endpoint() -> Flask:
    """What the API uses: pydantic called by `hma.web.typed.endpoint`, apispec for the
    document (made once, not per request)."""
    from hma.web.typed import endpoint

    app = Flask("typed")

    @app.post("/match")
    @endpoint("match", role=None, body=MatchIn, responses={200: MatchOut})
    def match(body: MatchIn) -> Any:
        return answer([s.model_dump() for s in body.signals])

    @app.get("/cases")
    @endpoint("cases", role=None, query=Paging, responses={200: Page})
    def cases(query: Paging) -> Any:
        return {"total": 3, "limit": query.limit}

    return app


def with_spectree() -> Flask:
    from spectree import Response, SpecTree

    app = Flask("spectree")
    spec = SpecTree("flask", app=app, validation_error_status=400)

    @app.post("/match")
    @spec.validate(json=MatchIn, resp=Response(HTTP_200=MatchOut))
    def match() -> Any:
        body = request.context.json  # type: ignore[attr-defined]
        return MatchOut.model_validate(answer([s.model_dump() for s in body.signals]))

    @app.get("/cases")
    @spec.validate(query=Paging, resp=Response(HTTP_200=Page))
    def cases() -> Any:
        return Page(total=3, limit=request.context.query.limit)  # type: ignore[attr-defined]

    return app


def with_flask_openapi3() -> Flask:
    from flask_openapi3 import OpenAPI

    app = OpenAPI("flask_openapi3", validation_error_status=400)

    @app.post("/match", responses={200: MatchOut})
    def match(body: MatchIn) -> Any:
        return MatchOut.model_validate(answer([s.model_dump() for s in body.signals])).model_dump()

    @app.get("/cases", responses={200: Page})
    def cases(query: Paging) -> Any:
        return Page(total=3, limit=query.limit).model_dump()

    return app


def per_request(app: Flask, requests: int) -> tuple[float, float]:
    """Median microseconds per request over 5 rounds: (POST /match, GET /cases)."""
    client = app.test_client()
    calls: list[Callable[[], Any]] = [
        lambda: client.post("/match", json=SIGNALS),
        lambda: client.get("/cases?limit=20&offset=40"),
    ]
    figures = []
    for call in calls:
        assert call().status_code == 200
        rounds = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(requests // 5):
                call()
            rounds.append((time.perf_counter() - started) / (requests // 5) * 1e6)
        figures.append(statistics.median(rounds))
    return figures[0], figures[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    options = parser.parse_args()
    makers: list[tuple[str, Callable[[], Flask]]] = [
        ("Flask, no validation", plain),
        ("Flask + pydantic, by hand", pydantic_direct),
        ("hma.web.typed (what we use)", with_typed_endpoint),
        ("spectree", with_spectree),
        ("flask-openapi3", with_flask_openapi3),
    ]
    print(f"{'':<28}{'POST /match':>14}{'GET /cases':>14}   (µs per request)")
    for name, make in makers:
        try:
            app = make()
        except ImportError as missing:
            print(f"{name:<28}  not installed ({missing.name})")
            continue
        post, get = per_request(app, options.requests)
        print(f"{name:<28}{post:>14.1f}{get:>14.1f}")


if __name__ == "__main__":
    main()
