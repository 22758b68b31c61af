"""One withdrawal per credit card in flight to its bank at a time.

A partial unique index on ``withdrawals(credit_card_id) WHERE status = 'PENDING'``: two
replicas handing two different withdrawals of one card to the bank at once would let the
bank check its limits against neither, so the second is refused until the first has the
bank's answer. Works the same on PostgreSQL and SQLite.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'PENDING'")


def upgrade() -> None:
    clashes = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT credit_card_id FROM withdrawals WHERE status = 'PENDING' "
                "GROUP BY credit_card_id HAVING count(*) > 1"
            )
        )
        .scalars()
        .all()
    )
    if clashes:
        raise RuntimeError(
            f"{len(clashes)} credit card(s) have several PENDING withdrawals; run the previous "
            "version until status sync has resolved them, then migrate again"
        )
    op.create_index(
        "uq_withdrawals_card_pending",
        "withdrawals",
        ["credit_card_id"],
        unique=True,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("uq_withdrawals_card_pending", table_name="withdrawals")
