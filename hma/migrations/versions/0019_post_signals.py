"""post signals

Revision: 0019
Parent: 0018
Written: 2026-12-03

Signals beyond media: case_texts keeps a post's text for its reviewers, and
banks.account_key names the key a bank stores account identifiers under.
Stored url signals take the blocklist form (`hashers.urls`): the same
address in the same bank now has one spelling, and the scheme is no longer
part of it. That rewrite uses the live rules, so it is not done here but by
`banks.upkeep`, which `hma db upgrade` runs after the migrations.
"""

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_texts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_texts_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_texts')),
    sa.UniqueConstraint('case_id', name=op.f('uq_case_texts_case_id')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('banks', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.add_column(sa.Column('account_key', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('banks', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.drop_column('account_key')
    op.drop_table('case_texts')
