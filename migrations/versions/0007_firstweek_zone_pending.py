"""couple.zone_pending: the time zone waits for a partner to confirm it

Revision ID: 0007_firstweek_zone_pending
Revises: 0001_core
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_firstweek_zone_pending"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Couples that exist already keep their zone as it is: nothing of theirs waits.
    with op.batch_alter_table("couple") as batch:
        batch.add_column(
            sa.Column("zone_pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("couple") as batch:
        batch.drop_column("zone_pending")
