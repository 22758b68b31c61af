"""Pilot rollout per bank and channel: an allow-list, a percentage, sandbox users.

A PILOT bank used to be open to everyone. From this revision it is open to the users its
rollout admits; existing PILOT rows start closed to all (run ``cardcash seed`` or ``cardcash
admin bank set`` to open them), which is what PILOT always promised.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bank_channels") as table:
        table.add_column(sa.Column("pilot_users", sa.Text(), nullable=False, server_default="[]"))
        table.add_column(
            sa.Column("pilot_basis_points", sa.Integer(), nullable=False, server_default="0")
        )
        table.add_column(
            sa.Column(
                "pilot_sandbox_users", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        table.create_check_constraint(
            "ck_bank_channels_pilot_basis_points",
            "pilot_basis_points BETWEEN 0 AND 10000",
        )


def downgrade() -> None:
    with op.batch_alter_table("bank_channels") as table:
        table.drop_constraint("ck_bank_channels_pilot_basis_points", type_="check")
        table.drop_column("pilot_sandbox_users")
        table.drop_column("pilot_basis_points")
        table.drop_column("pilot_users")
