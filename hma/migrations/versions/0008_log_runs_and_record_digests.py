"""log runs and record digests

Revision: 0008
Parent: 0007
Written: 2026-12-01

Two changes for syncs of millions of signals. The change log may record a
run of consecutive signal ids added to a bank in one row (`last_signal_id`),
instead of one row per signal. Bank content from an exchange keeps a 64-bit
digest of the upstream record it was last written from (`upstream_digest`,
indexed with the exchange), so a resync of a list skips the records it
already holds without parsing them, and finds what vanished by index. Both columns are nullable and added in place: existing rows stay as
they are (content without a digest is compared field by field, as before).
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("signal_changes", sa.Column("last_signal_id", sa.BigInteger(), nullable=True))
    op.add_column("bank_content", sa.Column("upstream_digest", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_bank_content_exchange_id_upstream_digest",
        "bank_content",
        ["exchange_id", "upstream_digest"],
    )


def downgrade() -> None:
    # A run cannot be written as the single-signal entries an older release
    # reads, and the log is append-only: refuse rather than lose additions.
    bind = op.get_bind()
    runs = bind.execute(
        sa.text("SELECT count(*) FROM signal_changes WHERE last_signal_id IS NOT NULL")
    ).scalar_one()
    if runs:
        raise RuntimeError(
            f"the change log holds {runs} run entries, which revision 0007 cannot read;"
            " restore the backup taken before upgrading instead"
        )
    op.drop_index("ix_bank_content_exchange_id_upstream_digest", table_name="bank_content")
    with op.batch_alter_table("bank_content", table_kwargs={"sqlite_autoincrement": True}) as b:
        b.drop_column("upstream_digest")
    with op.batch_alter_table("signal_changes", table_kwargs={"sqlite_autoincrement": True}) as b:
        b.drop_column("last_signal_id")
