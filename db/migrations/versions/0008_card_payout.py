"""Debit cards a bank will not pay out to: which banks say so.

A bank may report a debit card as not usable for payout to this customer (another holder's
card, a kind of card it does not pay to). A debit card is one row whichever bank reports it,
so the row keeps the codes of the banks whose latest report refuses it; the card is offered
for payouts while that is empty.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cards") as table:
        table.add_column(
            sa.Column("payout_refused_by", sa.String(200), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("cards") as table:
        table.drop_column("payout_refused_by")
