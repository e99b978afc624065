"""The migrations build exactly the schema the models describe, on every engine."""

from __future__ import annotations

import hashlib
import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from core.errors import SchemaOutdated
from hma.db import current_revision, ensure_schema, head_revision, metadata


def test_migrations_match_the_models(database):
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
    assert current_revision(database.engine) == head_revision(database.engine)
    tables = set(inspect(database.engine).get_table_names())
    assert set(metadata.tables) <= tables


def test_an_outdated_schema_is_refused_not_silently_changed(database):
    with database.engine.begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))
    with pytest.raises(SchemaOutdated, match="hma db upgrade"):
        ensure_schema(database.engine)


def test_sqlite_tables_never_reuse_ids(database):
    if database.engine.dialect.name != "sqlite":
        pytest.skip("AUTOINCREMENT is SQLite's; PostgreSQL sequences never reuse ids")
    with database.engine.connect() as connection:
        tables = connection.execute(
            text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table'"
                " AND name NOT IN ('alembic_version', 'sqlite_sequence')"
            )
        ).all()
    generated = [(name, sql) for name, sql in tables if "\tid INTEGER NOT NULL" in sql]
    assert len(generated) > 10
    assert [name for name, sql in generated if "AUTOINCREMENT" not in sql] == []
    # The rest are keyed by names, which nothing reuses by accident, or by the
    # ids of other rows (a token's banks).
    assert {name for name, _ in tables} - {name for name, _ in generated} == {
        "hma_api_settings",
        "leases",
        "token_banks",
    }


@pytest.fixture
def migrated(database_url):
    """A database on `database_url` with its Alembic config, for stepping through
    revisions by hand; disposed afterwards."""
    from hma.db import Database, _alembic_config

    db = Database(database_url)
    yield db, _alembic_config(db.engine)
    db.dispose()


def test_upgrades_backfill_and_keep_every_row(migrated):
    """Rows written under old revisions are kept, and get what later ones derive from them."""
    from alembic import command

    from banks.models import short_hash

    db, config = migrated
    command.upgrade(config, "0001")
    long_value = "x" * 300
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO banks (name, description, enabled, created_at,"
                " updated_at) VALUES ('b', '', true, '2026-01-01', '2026-01-01')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO bank_content (bank_id, enabled, tags, metadata, source, created_at,"
                " updated_at) VALUES (1, true, '[]', '{}', 'api', '2026-01-01', '2026-01-01')"
            )
        )
        for value in ("ab" * 16, long_value):
            connection.execute(
                text(
                    "INSERT INTO bank_signals (content_id, bank_id, signal_type, value)"
                    " VALUES (1, 1, 'md5', :value)"
                ),
                {"value": value},
            )
        connection.execute(
            text(
                "INSERT INTO signal_changes (op, signal_id, signal_type, value, created_at) VALUES"
                " ('add', 1, 'md5', 'x', '2026-01-01'), ('remove', 99, 'md5', 'y', '2026-01-01')"
            )
        )
    command.upgrade(config, "0004")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO exchanges (name, type, bank_id, interval_seconds, settings, enabled,"
                " feedback_enabled, generation, consecutive_failures, totals, last_run,"
                " created_at, updated_at) VALUES ('e', 'list', 1, 60, '{}', true, true, 0, 0,"
                " '{}', '{}', '2026-01-01', '2026-01-01')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO bank_content (bank_id, enabled, tags, metadata, source, created_at,"
                " updated_at, exchange_id, upstream_id) VALUES (1, true, '[]', '{}', 'exchange:e',"
                " '2026-01-01', '2026-01-01', 1, 'pdq:feed')"
            )
        )
    command.upgrade(config, "head")
    with db.engine.connect() as connection:
        # Nothing written before the upgrade is lost by rebuilt tables.
        contents = connection.execute(
            text("SELECT id, upstream_id, upstream_key FROM bank_content ORDER BY id")
        )
        assert [tuple(row) for row in contents] == [
            (1, None, None),
            (2, "pdq:feed", short_hash("pdq:feed")),
        ]
        # Change-log entries learn their bank and content where the signal still exists.
        changes = connection.execute(
            text("SELECT signal_id, bank_id, content_id FROM signal_changes ORDER BY id")
        )
        assert [tuple(row) for row in changes] == [(1, 1, 1), (99, None, None)]
        hashes = connection.execute(text("SELECT value, value_hash FROM bank_signals ORDER BY id"))
        assert [tuple(row) for row in hashes] == [
            ("ab" * 16, short_hash("ab" * 16)),
            (long_value, short_hash(long_value)),
        ]

    # Going back restores revision 0002's value keys, still without losing a row.
    command.downgrade(config, "0004")
    with db.engine.connect() as connection:
        keys = connection.execute(text("SELECT value, value_key FROM bank_signals ORDER BY id"))
        assert [tuple(row) for row in keys] == [
            ("ab" * 16, "ab" * 16),
            (long_value, "sha256:" + hashlib.sha256(long_value.encode()).hexdigest()),
        ]
        assert connection.execute(text("SELECT count(*) FROM bank_content")).scalar() == 2


def test_downgrading_past_log_runs_refuses_rather_than_lose_additions(migrated):
    from alembic import command

    db, config = migrated
    command.upgrade(config, "head")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO signal_changes (op, bank_id, signal_id, last_signal_id, signal_type,"
                " value, created_at) VALUES ('add', 1, 10, 19, '', '', '2026-12-01')"
            )
        )
    with pytest.raises(RuntimeError, match="1 run entries"):
        command.downgrade(config, "0007")
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT last_signal_id FROM signal_changes")).scalar() == 19
    assert current_revision(db.engine) == head_revision(db.engine)


PROJECT_PACKAGES = {"accounts", "actioners", "banks", "core", "database", "hashers", "hma"}


def test_migrations_import_none_of_the_live_code():
    """A migration means what it meant when written: it never runs today's rules."""
    import ast
    from importlib.resources import files

    versions = files("hma") / "migrations" / "versions"
    migrations = [entry for entry in versions.iterdir() if entry.name.endswith(".py")]
    assert len(migrations) >= 19
    for migration in migrations:
        for node in ast.walk(ast.parse(migration.read_text())):
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                imported = [node.module or ""]
            else:
                continue
            for name in imported:
                assert name.split(".")[0] not in PROJECT_PACKAGES, (migration.name, name)


def test_upgrade_respells_urls_stored_before_revision_0019(migrated):
    """Stored URLs take the current spelling by the live rules, after the migrations."""
    from alembic import command

    from banks.models import short_hash
    from hma.db import upgrade

    db, config = migrated
    command.upgrade(config, "0018")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO banks (name, description, enabled, created_at, updated_at)"
                " VALUES ('b', '', true, '2026-01-01', '2026-01-01')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO bank_content (bank_id, enabled, tags, metadata, source, created_at,"
                " updated_at) VALUES (1, true, '[]', '{}', 'api', '2026-01-01', '2026-01-01')"
            )
        )
        for value in ("https://Example.COM/a", "http://", "example.org/kept"):
            connection.execute(
                text(
                    "INSERT INTO bank_signals (content_id, bank_id, signal_type, value, value_hash)"
                    " VALUES (1, 1, 'url', :value, :hash)"
                ),
                {"value": value, "hash": short_hash(value)},
            )
    upgrade(db.engine)
    upgrade(db.engine)  # run again (as after an upgrade cut off): nothing changes twice
    with db.engine.connect() as connection:
        stored = connection.execute(text("SELECT value, value_hash FROM bank_signals ORDER BY id"))
        assert [tuple(row) for row in stored] == [
            ("example.com/a", short_hash("example.com/a")),
            ("http://", short_hash("http://")),
            ("example.org/kept", short_hash("example.org/kept")),
        ]


def test_a_banks_pdq_threshold_becomes_its_threshold_for_pdq_and_back(migrated):
    from alembic import command

    db, config = migrated
    command.upgrade(config, "0020")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO banks (name, description, enabled, created_at, updated_at,"
                " pdq_threshold) VALUES ('strict', '', true, '2026-01-01', '2026-01-01', 12),"
                " ('plain', '', true, '2026-01-01', '2026-01-01', NULL)"
            )
        )
    command.upgrade(config, "head")
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT name, thresholds FROM banks ORDER BY id")).all()
    kept = [(name, json.loads(t) if isinstance(t, str) else t) for name, t in rows]
    assert kept == [("strict", {"pdq": 12}), ("plain", {})]
    command.downgrade(config, "0020")
    with db.engine.connect() as connection:
        back = connection.execute(text("SELECT name, pdq_threshold FROM banks ORDER BY id"))
        assert [tuple(row) for row in back] == [("strict", 12), ("plain", None)]
