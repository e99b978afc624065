"""queue rank index

Revision: 0017
Parent: 0016
Written: 2026-12-03

ix_cases_rank: the review queue is ranked by the database, reading down
the stored priority; status, queue and age sit in the index beside it so a
page reads only the index entries near the top.
"""

from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_cases_rank', 'cases', ['priority', 'status', 'queue', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_cases_rank', table_name='cases')
