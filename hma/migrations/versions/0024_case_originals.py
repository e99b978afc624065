"""case originals

Revision: 0024
Parent: 0023
Written: 2026-12-08

case_originals: with the report_originals setting, the upload itself,
sealed with the deployment's key, kept until its reports are finished, its
rejection takes effect, or retention deletes the case's media.
"""

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_originals',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.Column('md5', sa.String(length=32), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_originals_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_originals')),
    sa.UniqueConstraint('case_id', name=op.f('uq_case_originals_case_id')),
    sqlite_autoincrement=True
    )


def downgrade() -> None:
    op.drop_table('case_originals')
