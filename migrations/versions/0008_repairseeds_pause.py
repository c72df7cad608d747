"""pause: remember that the counselling pointer was given (at most once a month)

Revision ID: 0008_repairseeds_pause
Revises: 0003_pause
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_repairseeds_pause"
down_revision: str | Sequence[str] | None = "0003_pause"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pause", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("counsel_offered", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("pause", schema=None) as batch_op:
        batch_op.drop_column("counsel_offered")
