"""The Flask application factory."""

from __future__ import annotations

from flask import Flask

from hma.db import Database, ensure_schema
from hma.exchanges import Exchanges
from hma.scan import build_scanner, load_taxonomy
from hma.secrets import secret_box
from hma.settings import Settings, load_settings
from hma.web.context import EXTENSION, Services, close_session
from hma.web.errors import register_error_handlers

#: Room for multipart framing and form fields around a file of the maximum size.
MULTIPART_OVERHEAD = 64 * 1024


def create_app(settings: Settings | None = None, database: Database | None = None) -> Flask:
    """Build the app; the schema must exist (an empty database is created)."""
    settings = settings or load_settings()
    database = database or Database(settings.resolved_database_url)
    ensure_schema(database.engine)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes + MULTIPART_OVERHEAD
    app.json.sort_keys = False  # type: ignore[attr-defined]
    scanner = build_scanner(settings)
    taxonomy = load_taxonomy(settings)
    exchanges = Exchanges.build(
        settings, database, scanner.registry, taxonomy, secret_box(settings)
    )
    app.extensions[EXTENSION] = Services(settings, database, scanner, taxonomy, exchanges)
    app.teardown_appcontext(close_session)
    register_error_handlers(app)

    from hma.web.api import api
    from hma.web.api.metrics import exposition

    app.register_blueprint(api)
    app.register_blueprint(exposition)
    return app
