"""The Flask application factory."""

from __future__ import annotations

from flask import Flask, Request, has_request_context, redirect, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.middleware.proxy_fix import ProxyFix

from accounts import sessions as console_sessions
from accounts.tokens import TokenCache
from banks import changelog
from banks.fetch import MediaFetcher
from banks.lookup import BankIndexes
from hma.assembly import build_egress, build_scanner, load_taxonomy, review_policy
from hma.audit_anchor import AuditAnchor
from hma.db import Database, ensure_schema
from hma.exchanges import Exchanges
from hma.overload import shed_overload
from hma.secrets import audit_chain_key, derived_key, secret_box
from hma.settings import Settings, load_settings
from hma.web.context import EXTENSION, Services, close_session
from hma.web.errors import register_error_handlers
from hma.web.headers import IdConverter, add_security_headers
from hma.web.hma_api.port import on_own_port
from hma.web.json_text import TextOnlyJSON
from hma.web.path_token import token_in_path

#: Hours a console sign-in lasts.
#: Room for multipart framing and form fields around a file of the maximum size.
MULTIPART_OVERHEAD = 64 * 1024


def create_app(settings: Settings | None = None, database: Database | None = None) -> Flask:
    """Build the app; the schema must exist (an empty database is created)."""
    settings = settings or load_settings()
    database = database or Database(settings.resolved_database_url)
    database.key_audit_log(audit_chain_key(settings), AuditAnchor(settings.audit_checkpoints))
    ensure_schema(database.engine)

    app = Flask(__name__)
    app.url_map.converters["id"] = IdConverter
    app.after_request(add_security_headers)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes + MULTIPART_OVERHEAD
    # Console sessions: signed with a key of their own, never readable by scripts,
    # never sent on cross-site requests; the session itself lives on the server
    # (accounts.sessions), which ends it.
    app.secret_key = derived_key(settings, "console-sessions")
    app.config.update(
        SESSION_COOKIE_NAME="hma_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.console_secure_cookie,
        PERMANENT_SESSION_LIFETIME=console_sessions.LIFETIME,
    )
    app.session_interface = ConsoleSessions()
    app.json = TextOnlyJSON(app)
    app.json.sort_keys = False
    taxonomy = load_taxonomy(settings)
    scanner = build_scanner(settings, taxonomy=taxonomy)
    egress = build_egress(settings)
    box = secret_box(settings)
    exchanges = Exchanges.build(settings, database, scanner.registry, taxonomy, box, egress)
    tokens = TokenCache(settings.token_cache_seconds)
    fetcher = MediaFetcher(
        egress,
        max_bytes=settings.max_upload_bytes,
        timeout=settings.fetch_timeout_seconds,
        concurrency=settings.fetch_concurrency,
    )
    review = review_policy(settings, taxonomy)
    app.extensions[EXTENSION] = Services(
        settings, database, scanner, taxonomy, review, egress, box, exchanges, tokens, fetcher
    )
    app.teardown_appcontext(close_session)
    register_error_handlers(app)
    apply_own_changes(database, scanner.indexes)
    if settings.trusted_proxy_hops > 0:
        hops = settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.wsgi_app = shed_overload(app.wsgi_app, settings.serve_queue_limit_seconds)  # type: ignore[method-assign, assignment]
    if settings.hma_api_port:
        app.wsgi_app = on_own_port(app.wsgi_app, settings.hma_api_port)  # type: ignore[method-assign, assignment]
    # Outermost: the token leaves the path (and the logged request line) first of all.
    app.wsgi_app = token_in_path(app.wsgi_app)  # type: ignore[method-assign, assignment]

    from hma.web.api import api
    from hma.web.api.metrics import exposition
    from hma.web.console import console
    from hma.web.hma_api import hma_api

    app.register_blueprint(api)
    app.register_blueprint(hma_api)
    app.register_blueprint(exposition)
    app.register_blueprint(console)
    app.add_url_rule("/", "home", lambda: redirect(url_for("console.home")))
    return app


class ConsoleSessions(SecureCookieSessionInterface):
    """Signed-cookie sessions for the console's pages only.

    The API authenticates by token and never reads a session, and opening
    one (a signer per request) was a measurable share of a lookup.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith("/console"):
            return self.null_session_class()
        return super().open_session(app, request)


def apply_own_changes(database: Database, indexes: BankIndexes) -> None:
    """After a commit that changed what matches, bring this process's indexes current.

    Other hosts see the change within one poll of the change log; a change
    made by a request is matchable on every process of this host by the time
    the request has answered.
    """

    def committed(session: Session) -> None:
        if session.info.pop(changelog.MATCHING_CHANGED, False):
            # A request's change is awaited by its caller; a sync's is not, and
            # must not hold up lookups while it lands a batch at a time.
            indexes.poke(urgent=has_request_context())

    def rolled_back(session: Session) -> None:
        session.info.pop(changelog.MATCHING_CHANGED, None)

    event.listen(database.sessions, "after_commit", committed)
    event.listen(database.sessions, "after_rollback", rolled_back)
