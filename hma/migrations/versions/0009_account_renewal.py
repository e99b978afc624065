"""account renewal

Revision: 0009
Parent: 0008
Written: 2026-12-03

users.must_renew: the next console sign-in must choose a new password and
authenticator before anything else (the first admin, whose secrets were
written to a file at first start).
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: a batch copy of the table would drop SQLite's AUTOINCREMENT.
    op.add_column(
        'users', sa.Column('must_renew', sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table('users', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.drop_column('must_renew')
