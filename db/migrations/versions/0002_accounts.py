"""Users and the cards their banks reported.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from db.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sqlmodel.AutoString(length=32), primary_key=True),
        sa.Column("channel", sqlmodel.AutoString(length=8), nullable=False),
        sa.Column("channel_user_id", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("union_id", sqlmodel.AutoString(length=128), nullable=True),
        sa.Column("is_sandbox", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_login_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("channel IN ('WECHAT', 'ALIPAY')", name="ck_users_channel"),
        sa.UniqueConstraint("channel", "channel_user_id", name="uq_users_channel_user"),
    )
    op.create_table(
        "cards",
        sa.Column("id", sqlmodel.AutoString(length=32), primary_key=True),
        sa.Column(
            "user_id", sqlmodel.AutoString(length=32), sa.ForeignKey("users.id"), nullable=False
        ),
        sa.Column("provider_code", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("kind", sqlmodel.AutoString(length=8), nullable=False),
        sa.Column("issuer_code", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("card_ref", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("last4", sqlmodel.AutoString(length=4), nullable=False),
        sa.Column("product_name", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('CREDIT', 'DEBIT')", name="ck_cards_kind"),
        sa.UniqueConstraint("user_id", "kind", "issuer_code", "card_ref", name="uq_cards_identity"),
    )
    op.create_index("ix_cards_user_provider", "cards", ["user_id", "provider_code"])


def downgrade() -> None:
    op.drop_index("ix_cards_user_provider", table_name="cards")
    op.drop_table("cards")
    op.drop_table("users")
