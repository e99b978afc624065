"""sharing scopes

Revision: 0013
Parent: 0012
Written: 2026-12-03

token_banks: the published banks each exchange token may read (until now
every exchange token read every published bank). banks.reshare: whether a
published bank's feed carries content that came from an exchange (until now
it did; from now on only where a curator says so).

Existing exchange tokens keep reading the banks published today, so that
peers following them do not stop; new tokens read only what they are given.
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        'banks', sa.Column('reshare', sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.create_table('token_banks',
    sa.Column('token_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('bank_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['bank_id'], ['banks.id'], name=op.f('fk_token_banks_bank_id_banks'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['token_id'], ['api_tokens.id'], name=op.f('fk_token_banks_token_id_api_tokens'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_id', 'bank_id', name=op.f('pk_token_banks')),
    )
    op.execute(
        "INSERT INTO token_banks (token_id, bank_id)"
        " SELECT t.id, b.id FROM api_tokens t CROSS JOIN banks b"
        " WHERE t.role = 'exchange' AND b.published"
    )


def downgrade() -> None:
    op.drop_table('token_banks')
    with op.batch_alter_table('banks', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.drop_column('reshare')
