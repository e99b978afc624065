"""`hma serve`: first-start set-up, then gunicorn serving the app in one process.

One worker process with threads: the in-memory indexes exist once, and (when
background jobs arrive) exactly one scheduler runs beside them.
"""

from __future__ import annotations

import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from actioners import audit
from hma.db import Database, ensure_schema
from hma.scheduler import Scheduler
from hma.secrets import SecretBox, secret_box
from hma.settings import Settings
from hma.tokens import create_token, has_tokens
from hma.users import NewAccount, create_user, has_users
from hma.web import create_app
from hma.web.context import EXTENSION

BOOTSTRAP_TOKEN_NAME = "admin"
BOOTSTRAP_USER = "admin"


def bootstrap(database: Database, box: SecretBox) -> tuple[str, NewAccount] | None:
    """On an empty database: the schema, a first admin token and a first admin
    account, whose secrets are returned once to be shown to the operator."""
    ensure_schema(database.engine)
    with database.session() as session:
        if has_tokens(session) or has_users(session):
            return None
        token = create_token(session, BOOTSTRAP_TOKEN_NAME, "admin")
        audit.record(session, "hma serve", audit.TOKEN_CREATE, BOOTSTRAP_TOKEN_NAME)
        return token, create_user(session, BOOTSTRAP_USER, "admin", box, actor="hma serve")


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Any, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.application


def _start_scheduler(app: Any) -> None:
    """Gunicorn hook: background jobs belong in the worker (threads do not survive fork)."""
    services = app.extensions[EXTENSION]
    scheduler = Scheduler(services.exchanges)
    scheduler.start()
    app.extensions["hma-scheduler"] = scheduler


def serve(settings: Settings, host: str, port: int) -> None:
    database = Database(settings.resolved_database_url)
    first = bootstrap(database, secret_box(settings))
    if first is not None:
        token, account = first
        print(
            "First start: created an admin API token and an admin console account.\n"
            "They are shown only now; keep them safe.\n"
            f"HMA_ADMIN_TOKEN={token}\n"
            f"HMA_ADMIN_USER={account.username}\n"
            f"HMA_ADMIN_PASSWORD={account.password}\n"
            f"HMA_ADMIN_TOTP_SECRET={account.totp_secret}\n"
            f"HMA_ADMIN_TOTP_URI={account.totp_uri}",
            flush=True,
        )
    app = create_app(settings, database)
    # Load (or build) the match indexes before taking requests, so that the first
    # upload after a restart does not wait for them; the worker inherits them.
    with database.session() as session:
        app.extensions[EXTENSION].scanner.indexes.refresh(session)
    # The worker is forked from this process: it must open its own connections.
    database.dispose()
    print(
        f"hma serving on http://{host}:{port} (data dir {settings.data_dir})",
        file=sys.stderr,
        flush=True,
    )
    _Gunicorn(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": settings.serve_threads,
            "loglevel": settings.log_level.lower(),
            "accesslog": "-",
            "timeout": 120,
            "control_socket_disable": True,
        }
        | (
            {"post_worker_init": lambda worker: _start_scheduler(app)} if settings.scheduler else {}
        ),
    ).run()
