"""follow-up cases

Revision: 0014
Parent: 0013
Written: 2026-12-03

A rescan that brings new matches while a decision waits opens a follow-up
case instead of setting the decision aside: the partial unique index now
allows one case awaiting review (open or escalated) per upload, beside any
whose decision waits.
"""

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

OLD = "status != 'closed'"
NEW = "status IN ('open', 'escalated')"


def _index(where: str) -> None:
    op.create_index(
        'uq_cases_unresolved_content_ref',
        'cases',
        ['content_ref'],
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    op.drop_index('uq_cases_unresolved_content_ref', table_name='cases')
    _index(NEW)


def downgrade() -> None:
    op.drop_index('uq_cases_unresolved_content_ref', table_name='cases')
    # Two unresolved cases of one upload (an original waiting, its follow-up)
    # cannot both stay under the older rule.
    pairs = op.get_bind().execute(sa.text(
        "SELECT content_ref FROM cases WHERE status != 'closed'"
        " GROUP BY content_ref HAVING COUNT(*) > 1 LIMIT 1"
    )).first()
    if pairs is not None:
        raise RuntimeError(
            "cannot downgrade past 0014 while an upload has a follow-up case beside a"
            " waiting decision: let the decisions take effect first"
        )
    _index(OLD)
