"""bank thresholds per signal type

Revision: 0021
Parent: 0020
Written: 2026-12-08

A bank's match distance was a PDQ-only column (banks.pdq_threshold). It is
now banks.thresholds, a JSON object by signal type name, so that any Hamming
type (a plugin's too) can have a distance of its own per bank. A PDQ
threshold set before is kept as {"pdq": n}; going back keeps only that one.
"""

import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
KEEP = {'sqlite_autoincrement': True}


def upgrade() -> None:
    with op.batch_alter_table('banks', table_kwargs=KEEP) as batch:
        batch.add_column(sa.Column('thresholds', JSON_DOCUMENT, server_default='{}', nullable=False))
    banks = sa.table('banks', sa.column('id'), sa.column('pdq_threshold'), sa.column('thresholds', JSON_DOCUMENT))
    connection = op.get_bind()
    rows = connection.execute(sa.select(banks.c.id, banks.c.pdq_threshold).where(banks.c.pdq_threshold.is_not(None)))
    for bank_id, threshold in rows.all():
        connection.execute(banks.update().where(banks.c.id == bank_id).values(thresholds={'pdq': threshold}))
    with op.batch_alter_table('banks', table_kwargs=KEEP) as batch:
        batch.drop_column('pdq_threshold')


def downgrade() -> None:
    with op.batch_alter_table('banks', table_kwargs=KEEP) as batch:
        batch.add_column(sa.Column('pdq_threshold', sa.Integer(), nullable=True))
    banks = sa.table('banks', sa.column('id'), sa.column('pdq_threshold'), sa.column('thresholds', JSON_DOCUMENT))
    connection = op.get_bind()
    for bank_id, thresholds in connection.execute(sa.select(banks.c.id, banks.c.thresholds)).all():
        if isinstance(thresholds, str):
            thresholds = json.loads(thresholds)
        if thresholds and thresholds.get('pdq') is not None:
            connection.execute(banks.update().where(banks.c.id == bank_id).values(pdq_threshold=thresholds['pdq']))
    with op.batch_alter_table('banks', table_kwargs=KEEP) as batch:
        batch.drop_column('thresholds')
