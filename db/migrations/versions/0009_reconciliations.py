"""Reconciliations: the latest result per bank and day, with its report.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from db.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconciliations",
        sa.Column("bank_code", sqlmodel.AutoString(length=16), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("result", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("ours", sa.Integer(), nullable=False),
        sa.Column("theirs", sa.Integer(), nullable=False),
        sa.Column("discrepancies", sa.Integer(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("ran_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "result IN ('CLEAN', 'DISCREPANCIES', 'UNSUPPORTED', 'FAILED')",
            name="ck_reconciliations_result",
        ),
    )


def downgrade() -> None:
    op.drop_table("reconciliations")
