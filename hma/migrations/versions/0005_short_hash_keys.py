"""short hash keys

Revision: 0005
Parent: 0004
Written: 2026-11-22

Lookups by signal value and by upstream id move to 64-bit digests: index
entries of eight bytes instead of up to 128 characters, so that a sync
inserting a million rows in random key order keeps its indexes in cache.
`bank_signals.value_key` becomes `value_hash` (indexed with the bank, which
also serves the per-bank lookups the bank-only index did), and bank content
gains `upstream_key` next to its upstream id. The unique constraint on the
exchange and upstream id goes: digests may collide, so lookups confirm the
full id, and one sync per exchange at a time keeps upstream ids unique.
Existing rows are backfilled.
"""

import hashlib

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

KEEP: dict[str, Any] = {"table_kwargs": {"sqlite_autoincrement": True}}
BATCH = 10_000
KEY_LENGTH = 128


def short_hash(text: str) -> int:
    """Frozen here: stored digests must not change if the application's code does."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def value_key(value: str) -> str:
    """Revision 0002's key, for downgrades."""
    if len(value) <= KEY_LENGTH:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def _backfill(table: str, source: str, target: str, derive: Callable[[str], Any]) -> None:
    """Set `target` to derive(`source`) on every row whose `source` is set, in batches."""
    rows = sa.table(table, sa.column("id", sa.BigInteger), sa.column(source, sa.Text),
                    sa.column(target))
    connection = op.get_bind()
    statement = (
        rows.update().where(rows.c.id == sa.bindparam("row_id"))
        .values({target: sa.bindparam("derived")})
    )
    last = 0
    while True:
        batch = connection.execute(
            sa.select(rows.c.id, rows.c[source])
            .where(rows.c.id > last, rows.c[source].is_not(None))
            .order_by(rows.c.id).limit(BATCH)
        ).all()
        if not batch:
            return
        connection.execute(
            statement, [{"row_id": row_id, "derived": derive(text)} for row_id, text in batch]
        )
        last = batch[-1][0]


def upgrade() -> None:
    with op.batch_alter_table("bank_signals", schema=None, **KEEP) as batch_op:
        batch_op.add_column(sa.Column("value_hash", sa.BigInteger(), nullable=True))
    _backfill("bank_signals", "value", "value_hash", short_hash)
    with op.batch_alter_table("bank_signals", schema=None, **KEEP) as batch_op:
        batch_op.alter_column("value_hash", existing_type=sa.BigInteger(), nullable=False)
        batch_op.drop_index("ix_bank_signals_type_key")
        batch_op.drop_index("ix_bank_signals_bank_id")
        batch_op.drop_column("value_key")
        batch_op.create_index("ix_bank_signals_bank_id_value_hash", ["bank_id", "value_hash"])

    with op.batch_alter_table("bank_content", schema=None, **KEEP) as batch_op:
        batch_op.add_column(sa.Column("upstream_key", sa.BigInteger(), nullable=True))
    _backfill("bank_content", "upstream_id", "upstream_key", short_hash)
    with op.batch_alter_table("bank_content", schema=None, **KEEP) as batch_op:
        batch_op.drop_constraint("uq_bank_content_exchange_id_upstream_id", type_="unique")
        batch_op.create_index("ix_bank_content_exchange_id_upstream_key",
                              ["exchange_id", "upstream_key"])


def downgrade() -> None:
    with op.batch_alter_table("bank_content", schema=None, **KEEP) as batch_op:
        batch_op.drop_index("ix_bank_content_exchange_id_upstream_key")
        batch_op.create_unique_constraint(
            batch_op.f("uq_bank_content_exchange_id_upstream_id"), ["exchange_id", "upstream_id"]
        )
        batch_op.drop_column("upstream_key")

    with op.batch_alter_table("bank_signals", schema=None, **KEEP) as batch_op:
        batch_op.add_column(sa.Column("value_key", sa.String(length=KEY_LENGTH), nullable=True))
    _backfill("bank_signals", "value", "value_key", value_key)
    with op.batch_alter_table("bank_signals", schema=None, **KEEP) as batch_op:
        batch_op.alter_column("value_key", existing_type=sa.String(length=KEY_LENGTH),
                              nullable=False)
        batch_op.drop_index("ix_bank_signals_bank_id_value_hash")
        batch_op.drop_column("value_hash")
        batch_op.create_index("ix_bank_signals_bank_id", ["bank_id"])
        batch_op.create_index("ix_bank_signals_type_key", ["signal_type", "value_key"])
