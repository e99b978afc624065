"""hma api

Revision: 0018
Parent: 0017
Written: 2026-12-03

What serving HMA's API on our banks needs: names up to 255 characters (as
HMA allows), a bank's matching ratio, content disabled until a time and a
curator's note on it, and hma_api_settings for the state only HMA's API has
(credentials per exchange type, signal type ratios). For the curator
console: exchange_runs, each sync's progress and outcome, and a sync a
curator asked for (exchanges.sync_requested_at).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('banks', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.alter_column('name', existing_type=sa.String(length=64), type_=sa.String(length=255), existing_nullable=False)
        batch.add_column(sa.Column('matching_ratio', sa.Float(), server_default='1.0', nullable=False))
    with op.batch_alter_table('exchanges', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.alter_column('name', existing_type=sa.String(length=64), type_=sa.String(length=255), existing_nullable=False)
        batch.add_column(sa.Column('sync_requested_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('bank_content', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.add_column(sa.Column('disabled_until', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('note', sa.String(length=255), nullable=True))
    op.create_table('exchange_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('exchange_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ok', sa.Boolean(), nullable=True),
    sa.Column('full', sa.Boolean(), nullable=False),
    sa.Column('records', sa.Integer(), nullable=False),
    sa.Column('expected', sa.Integer(), nullable=True),
    sa.Column('counts', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['exchange_id'], ['exchanges.id'], name=op.f('fk_exchange_runs_exchange_id_exchanges'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_runs')),
    sqlite_autoincrement=True
    )
    op.create_index('ix_exchange_runs_exchange_id_id', 'exchange_runs', ['exchange_id', 'id'])
    op.create_index(op.f('ix_exchange_runs_started_at'), 'exchange_runs', ['started_at'])
    op.create_table('hma_api_settings',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('value', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_hma_api_settings'))
    )


def downgrade() -> None:
    op.drop_table('hma_api_settings')
    op.drop_table('exchange_runs')
    with op.batch_alter_table('bank_content', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.drop_column('note')
        batch.drop_column('disabled_until')
    with op.batch_alter_table('exchanges', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.drop_column('sync_requested_at')
        batch.alter_column('name', existing_type=sa.String(length=255), type_=sa.String(length=64), existing_nullable=False)
    with op.batch_alter_table('banks', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.drop_column('matching_ratio')
        batch.alter_column('name', existing_type=sa.String(length=255), type_=sa.String(length=64), existing_nullable=False)
