"""couple_choice: a private command waiting for "which couple?"

Revision ID: 0008_privacy_flows_couple_choice
Revises: 0007_privacy_flows_members
Create Date: 2026-12-02 10:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import flows.models
import flows.secret

revision: str = "0008_privacy_flows_couple_choice"
down_revision: str | Sequence[str] | None = "0007_privacy_flows_members"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "couple_choice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("command", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("args", flows.secret.SecretText(), nullable=False),
        sa.Column("created_at", flows.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("couple_choice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_couple_choice_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("couple_choice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_couple_choice_user_id"))
    op.drop_table("couple_choice")
