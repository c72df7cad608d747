"""soft restart: one feeling and one need each after a break, shown together

Revision ID: 0010_repairseeds_restart
Revises: 0001_core
Create Date: 2026-12-02 10:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import flows.models
import flows.secret

revision: str = "0010_repairseeds_restart"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "soft_restart",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("couple_id", sa.Integer(), nullable=False),
        sa.Column("pause_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("step", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("feeling", flows.secret.SecretText(), nullable=True),
        sa.Column("need", flows.secret.SecretText(), nullable=True),
        sa.Column("created_at", flows.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["couple_id"],
            ["couple.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("soft_restart", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_soft_restart_couple_id"), ["couple_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_soft_restart_pause_id"), ["pause_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_soft_restart_partner_id"), ["partner_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("soft_restart", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_soft_restart_partner_id"))
        batch_op.drop_index(batch_op.f("ix_soft_restart_pause_id"))
        batch_op.drop_index(batch_op.f("ix_soft_restart_couple_id"))
    op.drop_table("soft_restart")
