"""signal value keys and matched variants

Revision: 0002
Parent: 0001
Written: 2026-11-22

Long signal values (a video's vPDQ frame list) do not fit in a B-tree index
entry, so lookups by value move to `value_key`: the value when short, a
SHA-256 of it otherwise. Existing rows are backfilled. Case matches gain the
dihedral variant (rotation or flip) that matched.
"""

import hashlib

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

KEY_LENGTH = 128
#: SQLite batch mode rebuilds tables from reflection, which does not see
#: AUTOINCREMENT; every table keeps it (ids are never reused).
KEEP: dict[str, Any] = {"table_kwargs": {"sqlite_autoincrement": True}}


def upgrade() -> None:
    with op.batch_alter_table("bank_signals", schema=None, **KEEP) as batch_op:
        batch_op.add_column(sa.Column("value_key", sa.String(length=KEY_LENGTH), nullable=True))

    signals = sa.table(
        "bank_signals", sa.column("id", sa.BigInteger), sa.column("value", sa.Text),
        sa.column("value_key", sa.String),
    )
    connection = op.get_bind()
    connection.execute(
        signals.update()
        .where(sa.func.length(signals.c.value) <= KEY_LENGTH)
        .values(value_key=signals.c.value)
    )
    long_values = connection.execute(
        sa.select(signals.c.id, signals.c.value).where(sa.func.length(signals.c.value) > KEY_LENGTH)
    ).all()
    for signal_id, value in long_values:
        digest = "sha256:" + hashlib.sha256(value.encode()).hexdigest()
        connection.execute(
            signals.update().where(signals.c.id == signal_id).values(value_key=digest)
        )

    with op.batch_alter_table("bank_signals", schema=None, **KEEP) as batch_op:
        batch_op.alter_column("value_key", existing_type=sa.String(length=KEY_LENGTH),
                              nullable=False)
        batch_op.drop_index("ix_bank_signals_type_value")
        batch_op.create_index("ix_bank_signals_type_key", ["signal_type", "value_key"])

    with op.batch_alter_table("case_matches", schema=None, **KEEP) as batch_op:
        batch_op.add_column(sa.Column("variant", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_matches", schema=None, **KEEP) as batch_op:
        batch_op.drop_column("variant")

    with op.batch_alter_table("bank_signals", schema=None, **KEEP) as batch_op:
        batch_op.drop_index("ix_bank_signals_type_key")
        batch_op.create_index("ix_bank_signals_type_value", ["signal_type", "value"])
        batch_op.drop_column("value_key")
