"""Shared fixtures: reference files, a real database per test (SQLite and, when
HMA_TEST_DATABASE_URL is set, PostgreSQL), the Flask app with tokens, and
local HTTP servers."""

from __future__ import annotations

import csv
import io
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import request_finished
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from accounts.tokens import ROLES, create_token
from accounts.users import USER_ROLES, create_user
from banks.egress import Egress, EgressPolicy, parse_allowed_peers
from hma.cli import main
from hma.db import Database, ensure_schema
from hma.secrets import SecretBox
from hma.settings import Settings, load_settings
from hma.web import create_app
from tests import spec_check

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PG_URL_ENV = "HMA_TEST_DATABASE_URL"

# Every /api/v1 answer in any test is checked against the published description.
request_finished.connect(spec_check.check)


@pytest.fixture(autouse=True)
def answers_match_the_openapi_description() -> Iterator[None]:
    spec_check.PROBLEMS.clear()
    yield
    assert spec_check.PROBLEMS == [], "answers that differ from /api/v1/openapi.json"


#: Where the tests' own peers listen (see `settings`).
TEST_PEERS = "127.0.0.1"


def loopback_egress() -> Egress:
    """An outbound client that may reach the tests' peers on loopback."""
    return Egress(EgressPolicy(allowed=parse_allowed_peers(TEST_PEERS)))


@pytest.fixture(scope="session")
def expected() -> dict[str, dict[str, str]]:
    """Reference values of the fixture images, by file name."""
    with open(FIXTURES / "expected.csv") as handle:
        return {row["path"]: row for row in csv.DictReader(handle)}


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The larger shared reference set; tests that need it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared reference data not found at {SHARED_DATA}")
    return SHARED_DATA


# Databases ------------------------------------------------------------------


def postgres_schema_url(base_url: str, schema: str) -> str:
    """A URL whose connections use `schema` (so each test gets a clean namespace)."""
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each engine; PostgreSQL runs when HMA_TEST_DATABASE_URL is set."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hma.db'}"
        return
    base = os.environ.get(PG_URL_ENV)
    if not base:
        pytest.skip(f"{PG_URL_ENV} is not set; PostgreSQL tests skipped")
    with postgres_schema(base, "t") as url:
        yield url


@contextmanager
def postgres_schema(base: str, prefix: str) -> Iterator[str]:
    """A URL of a new, empty schema on the server `base`, dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield postgres_schema_url(base, schema)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    ensure_schema(db.engine)
    yield db
    db.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(
        environ={},
        data_dir=tmp_path / "data",
        database_url=database_url,
        # The tests' exchange, webhook and media peers listen on loopback, and
        # their lists are written under tmp_path. Tests of the egress policy
        # build their own, narrower settings.
        egress_allow=TEST_PEERS,
        import_folder=str(tmp_path),
    )


# The Flask app ----------------------------------------------------------------


@dataclass
class Api:
    """A test client that sends each request with a token of the chosen role."""

    client: FlaskClient
    tokens: dict[str, str]

    def call(self, method: str, path: str, role: str = "admin", **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        if role:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return self.client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    def get(self, path: str, role: str = "admin", **kwargs: Any) -> Any:
        return self.call("GET", path, role, **kwargs)

    def post(self, path: str, role: str = "admin", **kwargs: Any) -> Any:
        return self.call("POST", path, role, **kwargs)

    def patch(self, path: str, role: str = "admin", **kwargs: Any) -> Any:
        return self.call("PATCH", path, role, **kwargs)

    def delete(self, path: str, role: str = "admin", **kwargs: Any) -> Any:
        return self.call("DELETE", path, role, **kwargs)


def api_for(settings: Settings, database: Database) -> Api:
    """An app on `database` with one token per role (created once per database).

    The people's roles (admin, curator, reviewer) get personal tokens of a
    console user each, as deciding and revealing need; `service-reviewer` is a
    reviewer token that belongs to nobody.
    """
    app = create_app(settings, database)
    tokens = {}
    with database.session() as session:
        for role in ROLES:
            name = f"test-{role}-{uuid.uuid4().hex[:6]}"
            person = role in USER_ROLES
            if person:
                create_user(session, name, role, SecretBox("test-users"))
            tokens[role] = create_token(session, name, role, user=name if person else None)
        tokens["service-reviewer"] = create_token(
            session, f"test-service-{uuid.uuid4().hex[:6]}", "reviewer"
        )
    return Api(app.test_client(), tokens)


@pytest.fixture
def api(settings: Settings, database: Database) -> Api:
    return api_for(settings, database)


def upload(name: str, **fields: Any) -> dict[str, Any]:
    """Multipart form data with a fixture image as `file`."""
    return {
        "data": {"file": (io.BytesIO(fixture_bytes(name)), name), **fields},
        "content_type": "multipart/form-data",
    }


# Local HTTP peers ---------------------------------------------------------------


@dataclass
class LocalServer:
    url: str
    requests: list[tuple[str, str, bytes]]
    #: The headers of each request, in the same order (names in lower case).
    headers: list[dict[str, str]]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


@pytest.fixture
def http_server() -> Iterator[Any]:
    """Start a real HTTP server on 127.0.0.1 serving `routes` {path: (status, headers, body)}."""
    servers: list[ThreadingHTTPServer] = []

    def start(routes: dict[str, tuple[int, dict[str, str], bytes]]) -> LocalServer:
        seen: list[tuple[str, str, bytes]] = []
        seen_headers: list[dict[str, str]] = []

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen_headers.append({k.lower(): v for k, v in self.headers.items()})
                seen.append((self.command, self.path, self.rfile.read(length)))
                status, headers, body = routes.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return LocalServer(f"http://127.0.0.1:{server.server_port}", seen, seen_headers)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class TricklingPeer:
    """Sends its status line, then its headers a byte at a time, each byte well within
    any read timeout: a deadline per read never runs out against it."""

    def __init__(self, every: float) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.every = every
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                for _ in range(200):
                    conn.sendall(b"X")
                    time.sleep(self.every)
            except OSError:
                return

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def trickling_peer() -> Iterator[Any]:
    """Start peers on 127.0.0.1 that never finish their headers (`TricklingPeer`)."""
    peers: list[TricklingPeer] = []

    def start(every: float) -> TricklingPeer:
        peers.append(TricklingPeer(every))
        return peers[-1]

    yield start
    for peer in peers:
        peer.close()


# The command line --------------------------------------------------------------


@pytest.fixture
def hma(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run `hma ARGS...` in this process on the test database; stdout and stderr apart."""
    monkeypatch.setenv("HMA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HMA_DATABASE_URL", database_url)
    monkeypatch.delenv("HMA_CONFIG", raising=False)
    monkeypatch.setenv("HMA_EGRESS_ALLOW", TEST_PEERS)
    monkeypatch.setenv("HMA_IMPORT_FOLDER", str(tmp_path))
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return run
