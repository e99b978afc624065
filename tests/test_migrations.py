"""The migrations build exactly the schema the models describe, on every engine."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from hma.db import SchemaOutdated, current_revision, ensure_schema, head_revision, metadata


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
    assert tables
    assert [name for name, sql in tables if "AUTOINCREMENT" not in sql] == []


def test_upgrade_backfills_value_keys(database_url):
    """Rows written under revision 0001 get their value_key from 0002."""
    from alembic import command

    from banks.models import value_key
    from hma.db import Database, _alembic_config

    db = Database(database_url)
    command.upgrade(_alembic_config(db.engine), "0001")
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
    command.upgrade(_alembic_config(db.engine), "head")
    with db.engine.connect() as connection:
        # Nothing written before the upgrade is lost by rebuilt tables.
        assert connection.execute(text("SELECT count(*) FROM bank_content")).scalar() == 1
        # Change-log entries learn their bank and content where the signal still exists.
        changes = connection.execute(
            text("SELECT signal_id, bank_id, content_id FROM signal_changes ORDER BY id")
        )
        assert [tuple(row) for row in changes] == [(1, 1, 1), (99, None, None)]
        keys = connection.execute(text("SELECT value, value_key FROM bank_signals ORDER BY id"))
        assert [(v, k) for v, k in keys] == [
            ("ab" * 16, "ab" * 16),
            (long_value, value_key(long_value)),
        ]
    db.dispose()
