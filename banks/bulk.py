"""Inserting many rows fast: straight to the driver's executemany.

SQLAlchemy's per-row bind processing (JSON encoding, datetime conversion)
costs more than the insert itself when a sync writes a million rows. Callers
here hand over rows of values the driver takes as they are: JSON columns as
JSON text (encoded once per distinct value by the caller), timestamps through
`timestamp()` once per batch. Ids are reserved up front (`reserve_ids`), so
rows that refer to each other are written without reading anything back.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, any_, bindparam, cast, func, select, text
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.types import ARRAY, Text

from database import Base


def table_of(model: type[Base]) -> Table:
    """The table `model` maps (SQLAlchemy types `__table__` as any selectable)."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} maps no table")
    return table


def timestamp(session: Session, moment: datetime) -> Any:
    """`moment` as the driver should receive it for a UTCDateTime column."""
    if session.connection().dialect.name == "sqlite":
        # The form SQLAlchemy's SQLite DateTime reads back (UTC, no offset).
        return moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment


def insert_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """INSERT rows (tuples in `columns` order, driver-ready values) in one go.

    PostgreSQL takes them through COPY: an executemany there still runs one
    statement per row on the server, about fifteen times slower. SQLite has
    no COPY; its executemany binds each row to one prepared statement.
    """
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _copy_rows(connection.connection.dbapi_connection, table, columns, rows)
        return
    marks = ", ".join("?" * len(columns))
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"
    connection.exec_driver_sql(sql, list(rows))


def _copy_rows(
    dbapi_connection: Any, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """COPY rows into `table` in text format, JSON columns given as JSON text."""
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    with dbapi_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


_SEQUENCE = text("SELECT pg_get_serial_sequence(:table, 'id')")
_DRAW_IDS = text(
    "SELECT array_agg(nextval(CAST(:sequence AS regclass))) FROM generate_series(1, :n)"
)


def reserve_ids(session: Session, table: Table, count: int) -> list[int]:
    """`count` fresh ids for `table`'s primary key, which no other writer will be given.

    PostgreSQL draws them from the column's sequence. On SQLite (tables are
    AUTOINCREMENT) the table's high-water mark in `sqlite_sequence` moves up
    by `count`; that write also takes the database's write lock, which this
    transaction then holds until it ends, so the mark read back is ours.
    """
    if count <= 0:
        return []
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # One array rather than a row per id: reading back a million rows
        # one at a time costs ten times more than drawing the ids.
        sequence = connection.execute(_SEQUENCE, {"table": table.name}).scalar_one()
        drawn = connection.execute(_DRAW_IDS, {"sequence": sequence, "n": count}).scalar_one()
        return sorted(drawn)
    params = {"table": table.name, "n": count}
    connection.execute(
        text(
            "INSERT INTO sqlite_sequence (name, seq) SELECT :table, 0"
            " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = :table)"
        ),
        params,
    )
    connection.execute(
        text("UPDATE sqlite_sequence SET seq = seq + :n WHERE name = :table"), params
    )
    top = int(
        connection.execute(
            text("SELECT seq FROM sqlite_sequence WHERE name = :table"), params
        ).scalar_one()
    )
    return list(range(top - count + 1, top + 1))


def any_of(
    session: Session, column: ColumnElement[Any] | QueryableAttribute[Any], values: Collection[Any]
) -> ColumnElement[bool]:
    """`column IN values`, with all the values bound as a single parameter.

    An IN list is rendered as one bound parameter per value, which costs more
    than the lookup itself when a sync compares hundreds of thousands of keys,
    and runs into the engines' parameter limits. One array (PostgreSQL) or one
    JSON array read by `json_each` (SQLite) does neither; both still look each
    value up through the column's index.
    """
    items = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(cast(bindparam(None, items), ARRAY(column.type)))
    listed = func.json_each(bindparam(None, json.dumps(items), type_=Text)).table_valued("value")
    return column.in_(select(listed.c.value))
