"""reports

Revision: 0023
Parent: 0022
Written: 2026-12-08

reports: one report of a case to a reporter, taken a committed step at a
time (the call in flight, the service's report and file ids), so that a
crash never yields a second finished report.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('reports',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('case_id', ID, nullable=True),
    sa.Column('reporter_id', ID, nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('remote_id', sa.BigInteger(), nullable=True),
    sa.Column('step', sa.String(length=32), nullable=True),
    sa.Column('files', JSON_DOCUMENT, nullable=False),
    sa.Column('retracted_ids', JSON_DOCUMENT, nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_reports_case_id_cases'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reporter_id'], ['reporters.id'], name=op.f('fk_reports_reporter_id_reporters'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports')),
    sa.UniqueConstraint('case_id', 'reporter_id', name=op.f('uq_reports_case_id_reporter_id')),
    sqlite_autoincrement=True
    )
    op.create_index('ix_reports_state_next_attempt_at', 'reports', ['state', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_reports_case_id'), 'reports', ['case_id'], unique=False)
    op.create_index(op.f('ix_reports_reporter_id'), 'reports', ['reporter_id'], unique=False)


def downgrade() -> None:
    op.drop_table('reports')
