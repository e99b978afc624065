"""bank thresholds and match detail

Revision: 0003
Parent: 0002
Written: 2026-11-22

Banks may override the PDQ match distance; case matches record matcher
detail (a video match's shares of matched frames).
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: SQLite batch mode rebuilds tables from reflection, which does not see
#: AUTOINCREMENT; every table keeps it (ids are never reused).
KEEP: dict[str, Any] = {"table_kwargs": {"sqlite_autoincrement": True}}
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("banks", schema=None, **KEEP) as batch_op:
        batch_op.add_column(sa.Column("pdq_threshold", sa.Integer(), nullable=True))
    with op.batch_alter_table("case_matches", schema=None, **KEEP) as batch_op:
        batch_op.add_column(sa.Column("detail", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_matches", schema=None, **KEEP) as batch_op:
        batch_op.drop_column("detail")
    with op.batch_alter_table("banks", schema=None, **KEEP) as batch_op:
        batch_op.drop_column("pdq_threshold")
