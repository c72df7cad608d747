"""repair from both sides: the hurt partner's note, an optional opening apology, an answer

Revision ID: 0007_repairseeds_repair
Revises: 0006_repair
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import flows.models
import flows.secret

revision: str = "0007_repairseeds_repair"
down_revision: str | Sequence[str] | None = "0006_repair"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hurt_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("couple_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("step", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("happened", flows.secret.SecretText(), nullable=True),
        sa.Column("meant", flows.secret.SecretText(), nullable=True),
        sa.Column("started_at", flows.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", flows.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["couple_id"],
            ["couple.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("hurt_note", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hurt_note_couple_id"), ["couple_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hurt_note_partner_id"), ["partner_id"], unique=False)
    with op.batch_alter_table("repair", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("with_sorry", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(sa.Column("hurt_note_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("answer", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("answered_at", flows.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("repair", schema=None) as batch_op:
        batch_op.drop_column("answered_at")
        batch_op.drop_column("answer")
        batch_op.drop_column("hurt_note_id")
        batch_op.drop_column("with_sorry")
    with op.batch_alter_table("hurt_note", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hurt_note_partner_id"))
        batch_op.drop_index(batch_op.f("ix_hurt_note_couple_id"))
    op.drop_table("hurt_note")
