"""Why a bank said no, from the SDK's closed set; the bank's own words for operators only.

``failure_reason`` keeps the bank's text (card numbers masked, bounded): operators read it,
users are shown the message of ``decline_reason`` instead. Withdrawals that failed before this
revision read as ``OTHER``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("withdrawals") as table:
        table.add_column(sa.Column("decline_reason", sa.String(length=32), nullable=True))
    op.execute(
        "UPDATE withdrawals SET decline_reason = 'OTHER' WHERE failure_code = 'BANK_DECLINED'"
    )


def downgrade() -> None:
    with op.batch_alter_table("withdrawals") as table:
        table.drop_column("decline_reason")
