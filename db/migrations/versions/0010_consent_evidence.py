"""Evidence of consent: the digest of the disclosure accepted, and the data-sharing consent.

A quote keeps the data-sharing consent it showed (version and text, in the user's language);
a withdrawal keeps the digest of the disclosure accepted and the consent given, and its
``disclosure_accepted_at`` becomes the time of acceptance the client states (rows before
this migration keep the time the request was received).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quotes") as table:
        table.add_column(
            sa.Column("data_sharing_version", sa.String(96), nullable=False, server_default="")
        )
        table.add_column(
            sa.Column("data_sharing_text", sa.Text(), nullable=False, server_default="")
        )
    with op.batch_alter_table("withdrawals") as table:
        table.add_column(
            sa.Column("disclosure_digest", sqlmodel.AutoString(length=64), nullable=True)
        )
        table.add_column(
            sa.Column("data_sharing_version", sqlmodel.AutoString(length=96), nullable=True)
        )
        table.add_column(
            sa.Column("data_sharing_digest", sqlmodel.AutoString(length=64), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("withdrawals") as table:
        table.drop_column("data_sharing_digest")
        table.drop_column("data_sharing_version")
        table.drop_column("disclosure_digest")
    with op.batch_alter_table("quotes") as table:
        table.drop_column("data_sharing_text")
        table.drop_column("data_sharing_version")
