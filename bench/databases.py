"""Fresh, empty databases for benchmarks: SQLite in a folder, or PostgreSQL on loopback."""

from __future__ import annotations

from pathlib import Path

#: The local server CI and the development machines run (trust authentication).
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
KINDS = ("sqlite", "postgresql")


def fresh_database_url(kind: str, folder: Path, name: str) -> str:
    """An SQLAlchemy URL of an empty database of `kind`; a PostgreSQL database
    called `name` is dropped and created again."""
    if kind == "sqlite":
        return f"sqlite:///{folder / f'{name}.db'}"
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
