"""thanks: short notes of appreciation from one partner to the other

Revision ID: 0009_repairseeds_thanks
Revises: 0001_core
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import flows.models
import flows.secret

revision: str = "0009_repairseeds_thanks"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "thanks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("couple_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("what", flows.secret.SecretText(), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("shown_in", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", flows.models.UTCDateTime(), nullable=False),
        sa.Column("sent_at", flows.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["couple_id"],
            ["couple.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("thanks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_thanks_couple_id"), ["couple_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_thanks_partner_id"), ["partner_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("thanks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_thanks_partner_id"))
        batch_op.drop_index(batch_op.f("ix_thanks_couple_id"))
    op.drop_table("thanks")
