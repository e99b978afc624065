"""exchanges

Revision: 0004
Parent: 0003
Written: 2026-11-22

Banks follow exchanges: the exchanges and their sync state, an outbox of
feedback owed to them, and on bank content the exchange and upstream id that
later updates and deletions are keyed by. Banks can be published. Change-log
entries gain their bank and content (existing ones are backfilled where the
signal still exists), so a published bank's changes can be read as a feed.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

KEEP: dict[str, Any] = {"table_kwargs": {"sqlite_autoincrement": True}}
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "exchanges",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("bank_id", ID, nullable=False),
        sa.Column("base_url", sa.Text(), nullable=True),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("credentials", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("feedback_enabled", sa.Boolean(), nullable=False),
        sa.Column("checkpoint", JSON, nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("resync_generation", sa.Integer(), nullable=True),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("totals", JSON, nullable=False),
        sa.Column("last_run", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["bank_id"], ["banks.id"], name=op.f("fk_exchanges_bank_id_banks"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchanges")),
        sa.UniqueConstraint("name", name=op.f("uq_exchanges_name")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_exchanges_bank_id"), "exchanges", ["bank_id"])
    op.create_table(
        "exchange_feedback",
        sa.Column("id", ID, nullable=False),
        sa.Column("exchange_id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("content_id", ID, nullable=False),
        sa.Column("upstream_id", sa.String(length=255), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["exchange_id"], ["exchanges.id"],
                                name=op.f("fk_exchange_feedback_exchange_id_exchanges"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_feedback")),
        sa.UniqueConstraint("exchange_id", "case_id", "content_id",
                            name=op.f("uq_exchange_feedback_exchange_id_case_id_content_id")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_exchange_feedback_status_next_attempt_at", "exchange_feedback",
                    ["status", "next_attempt_at"])

    with op.batch_alter_table("banks", schema=None, **KEEP) as batch_op:
        batch_op.add_column(sa.Column("published", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table("bank_content", schema=None, **KEEP) as batch_op:
        batch_op.add_column(sa.Column("exchange_id", ID, nullable=True))
        batch_op.add_column(sa.Column("upstream_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("sync_generation", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_bank_content_exchange_id_exchanges"),
                                    "exchanges", ["exchange_id"], ["id"], ondelete="SET NULL")
        batch_op.create_unique_constraint(
            batch_op.f("uq_bank_content_exchange_id_upstream_id"), ["exchange_id", "upstream_id"]
        )
    with op.batch_alter_table("signal_changes", schema=None, **KEEP) as batch_op:
        batch_op.add_column(sa.Column("bank_id", ID, nullable=True))
        batch_op.add_column(sa.Column("content_id", ID, nullable=True))
        batch_op.create_index("ix_signal_changes_bank_id_id", ["bank_id", "id"])

    changes = sa.table("signal_changes", sa.column("signal_id"), sa.column("bank_id"),
                       sa.column("content_id"))
    signals = sa.table("bank_signals", sa.column("id"), sa.column("bank_id"),
                       sa.column("content_id"))
    for column in ("bank_id", "content_id"):
        op.execute(changes.update().values({
            column: sa.select(getattr(signals.c, column))
            .where(signals.c.id == changes.c.signal_id)
            .scalar_subquery()
        }))


def downgrade() -> None:
    with op.batch_alter_table("signal_changes", schema=None, **KEEP) as batch_op:
        batch_op.drop_index("ix_signal_changes_bank_id_id")
        batch_op.drop_column("content_id")
        batch_op.drop_column("bank_id")
    with op.batch_alter_table("bank_content", schema=None, **KEEP) as batch_op:
        batch_op.drop_constraint("uq_bank_content_exchange_id_upstream_id", type_="unique")
        batch_op.drop_constraint("fk_bank_content_exchange_id_exchanges", type_="foreignkey")
        batch_op.drop_column("sync_generation")
        batch_op.drop_column("upstream_id")
        batch_op.drop_column("exchange_id")
    with op.batch_alter_table("banks", schema=None, **KEEP) as batch_op:
        batch_op.drop_column("published")
    op.drop_index("ix_exchange_feedback_status_next_attempt_at", table_name="exchange_feedback")
    op.drop_table("exchange_feedback")
    op.drop_index(op.f("ix_exchanges_bank_id"), table_name="exchanges")
    op.drop_table("exchanges")
