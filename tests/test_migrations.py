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
