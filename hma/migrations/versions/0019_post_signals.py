"""post signals

Revision: 0019
Parent: 0018
Written: 2026-12-03

Signals beyond media: case_texts keeps a post's text for its reviewers, and
banks.account_key names the key a bank stores account identifiers under.
Stored url signals are rewritten in the blocklist form (`hashers.urls`):
the same address in the same bank now has one spelling, and the scheme is
no longer part of it. A value the new rules refuse is left as it was and
logged (it matches nothing, as before nothing parsed it either).
"""

import logging

import sqlalchemy as sa
from alembic import op

import database
from hashers.signals import URL
from core.errors import InvalidSignal

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    op.create_table('case_texts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_texts_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_texts')),
    sa.UniqueConstraint('case_id', name=op.f('uq_case_texts_case_id')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('banks', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.add_column(sa.Column('account_key', sa.String(length=64), nullable=True))
    _rewrite_urls()


def _rewrite_urls() -> None:
    from banks.models import short_hash

    connection = op.get_bind()
    signals = sa.table(
        'bank_signals', sa.column('id'), sa.column('signal_type'), sa.column('value'), sa.column('value_hash')
    )
    rows = connection.execute(sa.select(signals.c.id, signals.c.value).where(signals.c.signal_type == 'url')).all()
    for signal_id, value in rows:
        try:
            canonical = URL.normalize(value)
        except InvalidSignal as exc:
            log.warning("url signal %d left as it was: %s", signal_id, exc)
            continue
        if canonical != value:
            connection.execute(
                signals.update().where(signals.c.id == signal_id).values(value=canonical, value_hash=short_hash(canonical))
            )


def downgrade() -> None:
    with op.batch_alter_table('banks', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.drop_column('account_key')
    op.drop_table('case_texts')
