"""keyed, append-only audit log

Revision: 0012
Parent: 0011
Written: 2026-12-03

audit_log.keyed: whether an entry's hash is an HMAC under the deployment's
key (entries from now on) or the plain SHA-256 of older entries. Triggers
refuse UPDATE and DELETE of audit entries (and TRUNCATE on PostgreSQL), so
that the application's own database role cannot rewrite the log through a
bug or an injected statement; changing the log now takes dropping the
triggers, which is itself a schema change an operator can see.
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

MESSAGE = 'the audit log is append-only'


def upgrade() -> None:
    op.add_column(
        'audit_log', sa.Column('keyed', sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS"
            f" $$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log"
            " FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log"
            " FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )
    else:
        for event in ('UPDATE', 'DELETE'):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log"
                f" BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER audit_log_no_update")
        op.execute("DROP TRIGGER audit_log_no_delete")
    with op.batch_alter_table('audit_log', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.drop_column('keyed')
