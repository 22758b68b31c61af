"""Sessions that end before their expiry: logout and logout everywhere.

``revoked_sessions`` holds the sessions signed out one by one, by their session id (a token's
``jti``), until the time their token would have expired anyway (then a row is useless and is
purged). ``users.session_generation`` counts a user's "sign out everywhere": a token carries
the generation it was issued in and is refused once the user's is higher. A counter rather
than a time, so that no replica's clock decides which tokens were issued before.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from db.types import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revoked_sessions",
        sa.Column("session_id", sqlmodel.AutoString(length=64), primary_key=True),
        sa.Column(
            "user_id", sqlmodel.AutoString(length=32), sa.ForeignKey("users.id"), nullable=False
        ),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_revoked_sessions_expires_at", "revoked_sessions", ["expires_at"])
    with op.batch_alter_table("users") as table:
        table.add_column(
            sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as table:
        table.drop_column("session_generation")
    op.drop_index("ix_revoked_sessions_expires_at", table_name="revoked_sessions")
    op.drop_table("revoked_sessions")
