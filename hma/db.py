"""Database engine, sessions and schema migrations (Alembic).

SQLite is the embedded default (WAL mode, so readers never wait for the
writer); PostgreSQL is the scale-out engine. Both run the same migrations.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# Importing the model modules registers every table on Base.metadata.
import accounts.models  # noqa: F401
import actioners.models  # noqa: F401
import banks.models  # noqa: F401
import hma.models  # noqa: F401
from actioners import retention
from banks import upkeep
from core.errors import SchemaOutdated
from database import Base, audit
from hma.audit_anchor import AuditAnchor
from hma.private_files import touch_private
from hma.secrets import audit_chain_key
from hma.settings import Settings

metadata = Base.metadata
log = logging.getLogger(__name__)


def open_database(settings: Settings) -> Database:
    """The deployment's database, its audit log chained with the deployment's key and
    anchored in its checkpoint file."""
    database = Database(settings.resolved_database_url)
    database.key_audit_log(audit_chain_key(settings), AuditAnchor(settings.audit_checkpoints))
    return database


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # No pre-ping: it costs every request a round trip. A connection the
        # server dropped fails its next statement instead (answered 503), which
        # also invalidates the rest of the pool, so the next requests reconnect.
        return create_engine(url, pool_size=10, max_overflow=10)
    if parsed.database and parsed.database != ":memory:":
        touch_private(Path(parsed.database))
    engine = create_engine(url, connect_args={"timeout": 30})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


#: Tables whose statistics SQLite's planner needs to choose well: the review
#: queue's. (Sampled statistics mislead it about a column of few values such
#: as a case's status, so these are analysed in full: a second or so at
#: millions of cases.)
ANALYZED_TABLES = ("cases",)


def refresh_statistics(engine: Engine) -> None:
    """Give SQLite's planner current table statistics (PostgreSQL's autovacuum keeps its own).

    Without them SQLite guesses, and for the review queue it guesses wrong: it
    reads every unresolved case through the status index instead of the few at
    the top of the priority index.
    """
    if engine.dialect.name != "sqlite":
        return
    with engine.begin() as connection:
        for table in ANALYZED_TABLES:
            connection.exec_driver_sql(f"ANALYZE {table}")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted rows are overwritten, not left in free pages: they include kept copies
    # of uploads that must be gone once deleted.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Up to 64 MiB of pages per connection (allocated as used): a sync's random
    # index inserts stay in memory instead of re-reading pages from the OS.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("hma") / "migrations"))
    config.attributes["engine"] = engine
    return config


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Apply every pending migration, then bring stored values up to the current
    rules (which the migrations, importing none of the live code, leave alone)."""
    command.upgrade(_alembic_config(engine), "head")
    with Session(engine) as session, session.begin():
        respelled = upkeep.respell_stored_values(session)
    if respelled:
        log.info("%d stored signal values rewritten in their canonical spelling", respelled)


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse to run on an outdated one.

    Upgrading a database that already holds data is left to `hma db upgrade`,
    an explicit step an operator takes (and backs up before) on purpose.
    """
    current = current_revision(engine)
    if current == head_revision(engine):
        return
    if current is None and not inspect(engine).get_table_names():
        upgrade(engine)
        return
    raise SchemaOutdated(
        f"the database schema is at revision {current or 'none'}, this release needs"
        f" {head_revision(engine)}; back up the database and run `hma db upgrade`"
    )


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        #: Sessions for requests that only read: each statement runs on its own,
        #: without the BEGIN and ROLLBACK round trips a transaction would add.
        self.reads = sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
        )
        self.audit_anchor: AuditAnchor | None = None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.sessions, "after_commit", self._after_media_deleted)
            event.listen(self.sessions, "after_rollback", self._forget_media_deleted)

    def _after_media_deleted(self, session: Session) -> None:
        """Checkpoint the write-ahead log, truncating it, once kept copies were deleted:
        until then its older frames still hold them. In a thread of its own: the
        checkpoint waits for readers, and whoever deleted need not."""
        if session.info.pop(retention.MEDIA_DELETED, False):
            threading.Thread(target=self.truncate_log, daemon=True, name="wal-checkpoint").start()

    @staticmethod
    def _forget_media_deleted(session: Session) -> None:
        session.info.pop(retention.MEDIA_DELETED, None)

    def truncate_log(self) -> None:
        """Copy SQLite's write-ahead log into the database and empty it."""
        with self.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def key_audit_log(self, key: bytes, anchor: AuditAnchor | None = None) -> None:
        """Chain this database's new audit entries, and verify them, with `key`; with
        `anchor`, write each committed entry down there (once, however often called)."""
        self.sessions.configure(info={audit.KEY_INFO: key})
        self.reads.configure(info={audit.KEY_INFO: key})
        if anchor is not None and self.audit_anchor is None:
            anchor.follow(self.sessions)
            self.audit_anchor = anchor

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block succeeds and rolls back otherwise."""
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
