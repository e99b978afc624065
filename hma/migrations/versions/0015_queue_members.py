"""queue members

Revision: 0015
Parent: 0014
Written: 2026-12-03

users.queues: the review queues a user belongs to. An escalated case may be
opened only by its queue's members, the reviewer it was sent to, and admins.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('users', sa.Column(
            'queues',
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
            nullable=True,
        ))


def downgrade() -> None:
    with op.batch_alter_table('users', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.drop_column('queues')
