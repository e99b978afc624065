"""appeal removals

Revision: 0016
Parent: 0015
Written: 2026-12-03

appeal_removals: items of an exchange a curator removed because an appeal
found them not to be abuse, with the reason; syncs never add them back.
"""

import sqlalchemy as sa
from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('appeal_removals',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('exchange_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('upstream_id', sa.String(length=255), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('removed_by', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['exchange_id'], ['exchanges.id'], name=op.f('fk_appeal_removals_exchange_id_exchanges'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appeal_removals')),
    sa.UniqueConstraint('exchange_id', 'upstream_id', name=op.f('uq_appeal_removals_exchange_id_upstream_id')),
    sqlite_autoincrement=True
    )


def downgrade() -> None:
    op.drop_table('appeal_removals')
