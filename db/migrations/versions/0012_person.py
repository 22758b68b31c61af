"""The person behind a user: one daily cap across banks and channels.

``users.person_key`` names the person a user is, as far as the channels tell: the real-name
identity a channel vouched for (``real-name:…``, the same on every channel), else WeChat's
``unionid`` (``wechat-union:…``, the same across the apps of one Open Platform account), else
the user alone (``user:<id>``). The per-person daily cap adds up the withdrawals of every user
with the same key. Existing users get their union id's key, or their own.

``quotes.high_cost`` records that a quote's APR passed the high-cost threshold when it was
made, so the warning the user read stays with the quote whatever the threshold later is.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as table:
        table.add_column(
            sa.Column(
                "person_key", sa.String(160), nullable=False, server_default=""
            )
        )
    op.execute(
        "UPDATE users SET person_key = CASE WHEN union_id IS NOT NULL AND channel = 'WECHAT' "
        "THEN 'wechat-union:' || union_id ELSE 'user:' || id END"
    )
    op.create_index("ix_users_person_key", "users", ["person_key"])
    with op.batch_alter_table("quotes") as table:
        table.add_column(
            sa.Column("high_cost", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("quotes") as table:
        table.drop_column("high_cost")
    op.drop_index("ix_users_person_key", table_name="users")
    with op.batch_alter_table("users") as table:
        table.drop_column("person_key")
