"""Quotes, withdrawals and their events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from db.types import MoneyCents, UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = sqlmodel.AutoString
STATUSES = "'PENDING', 'VERIFICATION_REQUIRED', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'CANCELLED'"


def upgrade() -> None:
    op.create_table(
        "quotes",
        sa.Column("id", S(length=32), primary_key=True),
        sa.Column("user_id", S(length=32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("bank_code", S(length=16), sa.ForeignKey("banks.code"), nullable=False),
        sa.Column("credit_card_id", S(length=32), sa.ForeignKey("cards.id"), nullable=False),
        sa.Column("amount", MoneyCents(), nullable=False),
        sa.Column("currency", S(length=3), nullable=False),
        sa.Column("repayment_type", S(length=16), nullable=False),
        sa.Column("periods", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("schedule", sa.Text(), nullable=False),
        sa.Column("total_interest", MoneyCents(), nullable=False),
        sa.Column("total_fee", MoneyCents(), nullable=False),
        sa.Column("total_repayment", MoneyCents(), nullable=False),
        sa.Column("apr", S(length=16), nullable=False),
        sa.Column("apr_method", S(length=32), nullable=False),
        sa.Column("agreement_version", S(length=64), nullable=False),
        sa.Column("disclosure_version", S(length=96), nullable=False),
        sa.Column("disclosure_text", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_quotes_user_created", "quotes", ["user_id", "created_at"])
    op.create_table(
        "withdrawals",
        sa.Column("id", S(length=32), primary_key=True),
        sa.Column("user_id", S(length=32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("idempotency_key", S(length=128), nullable=False),
        sa.Column("request_hash", S(length=64), nullable=False),
        sa.Column("quote_id", S(length=32), sa.ForeignKey("quotes.id"), nullable=False),
        sa.Column("bank_code", S(length=16), sa.ForeignKey("banks.code"), nullable=False),
        sa.Column("credit_card_id", S(length=32), sa.ForeignKey("cards.id"), nullable=False),
        sa.Column("debit_card_id", S(length=32), sa.ForeignKey("cards.id"), nullable=False),
        sa.Column("amount", MoneyCents(), nullable=False),
        sa.Column("currency", S(length=3), nullable=False),
        sa.Column("repayment_type", S(length=16), nullable=False),
        sa.Column("periods", sa.Integer(), nullable=False),
        sa.Column("purpose", S(length=32), nullable=False),
        sa.Column("disclosure_version", S(length=96), nullable=False),
        sa.Column("disclosure_accepted_at", UTCDateTime(), nullable=False),
        sa.Column("status", S(length=24), nullable=False),
        sa.Column("failure_code", S(length=32), nullable=True),
        sa.Column("failure_reason", S(length=256), nullable=True),
        sa.Column("bank_reference", S(length=128), nullable=True),
        sa.Column("verification_attempts", sa.Integer(), nullable=False),
        sa.Column("expected_arrival", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("next_sync_at", UTCDateTime(), nullable=True),
        sa.Column("sync_attempts", sa.Integer(), nullable=False),
        sa.Column("sync_lease_until", UTCDateTime(), nullable=True),
        sa.CheckConstraint(f"status IN ({STATUSES})", name="ck_withdrawals_status"),
        sa.UniqueConstraint("user_id", "idempotency_key", name="uq_withdrawals_idempotency"),
        sa.UniqueConstraint("quote_id", name="uq_withdrawals_quote"),
    )
    op.create_index("ix_withdrawals_user_created", "withdrawals", ["user_id", "created_at", "id"])
    op.create_index("ix_withdrawals_next_sync", "withdrawals", ["next_sync_at"])
    op.create_table(
        "withdrawal_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("withdrawal_id", S(length=32), sa.ForeignKey("withdrawals.id"), nullable=False),
        sa.Column("from_status", S(length=24), nullable=True),
        sa.Column("to_status", S(length=24), nullable=False),
        sa.Column("source", S(length=16), nullable=False),
        sa.Column("detail", S(length=256), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_withdrawal_events_withdrawal", "withdrawal_events", ["withdrawal_id", "id"])


def downgrade() -> None:
    op.drop_table("withdrawal_events")
    op.drop_table("withdrawals")
    op.drop_table("quotes")
