"""Bank catalog: banks and their availability per channel.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from db.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "banks",
        sa.Column("code", sqlmodel.AutoString(length=16), primary_key=True),
        sa.Column("name", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("name_en", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("short_name", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("logo_url", sqlmodel.AutoString(length=512), nullable=False),
        sa.Column("brand_color", sqlmodel.AutoString(length=7), nullable=False),
        sa.Column("tagline", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "bank_channels",
        sa.Column(
            "bank_code",
            sqlmodel.AutoString(length=16),
            sa.ForeignKey("banks.code"),
            primary_key=True,
        ),
        sa.Column("channel", sqlmodel.AutoString(length=8), primary_key=True),
        sa.Column("availability", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("entry_hint", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("channel IN ('WECHAT', 'ALIPAY')", name="ck_bank_channels_channel"),
        sa.CheckConstraint(
            "availability IN ('LIVE', 'PILOT', 'ONBOARDING', 'SUSPENDED')",
            name="ck_bank_channels_availability",
        ),
    )
    op.create_index("ix_bank_channels_channel_position", "bank_channels", ["channel", "position"])


def downgrade() -> None:
    op.drop_index("ix_bank_channels_channel_position", table_name="bank_channels")
    op.drop_table("bank_channels")
    op.drop_table("banks")
