"""origin exchange

Revision: 0020
Parent: 0019
Written: 2026-12-07

bank_content.origin_exchange names the exchange content came from once it
no longer belongs to one (kept when its exchange was removed, imported from
the exchange content of an HMA deployment): it stays another program's, and
a published bank shares it only when marked `reshare`.
"""

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('bank_content', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.add_column(sa.Column('origin_exchange', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('bank_content', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.drop_column('origin_exchange')
