"""What the bank booked: the digest of the terms it echoed (SDK 1.2).

A withdrawal is sent with the terms the holder accepted (the quote's id, start day, the bank's
own schedule and their digest) and the bank echoes the terms it booked. ``booked_terms_digest``
keeps the digest of what it echoed (``providers.terms_digest``), null when the plugin did not
say (an SDK before 1.2), so that an export can show whether what was booked is what was
accepted.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("withdrawals") as table:
        table.add_column(sa.Column("booked_terms_digest", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("withdrawals") as table:
        table.drop_column("booked_terms_digest")
