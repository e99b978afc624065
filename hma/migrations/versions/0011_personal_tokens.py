"""personal tokens

Revision: 0011
Parent: 0010
Written: 2026-12-03

api_tokens.user_id: a token that belongs to a console user and acts as that
user (deciding and revealing need one), so that one person is one identity
whether they use the console or the API.
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_tokens', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.add_column(
            sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True)
        )
        batch.create_index(batch.f('ix_api_tokens_user_id'), ['user_id'], unique=False)
        batch.create_foreign_key(
            batch.f('fk_api_tokens_user_id_users'), 'users', ['user_id'], ['id'], ondelete='CASCADE'
        )


def downgrade() -> None:
    with op.batch_alter_table('api_tokens', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.drop_constraint(batch.f('fk_api_tokens_user_id_users'), type_='foreignkey')
        batch.drop_index(batch.f('ix_api_tokens_user_id'))
        batch.drop_column('user_id')
