"""couple.member_count: how many are in the group, so Mend knows when others are present

Revision ID: 0007_privacy_flows_members
Revises: 0001_core
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_privacy_flows_members"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("couple") as batch:
        batch.add_column(sa.Column("member_count", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("couple") as batch:
        batch.drop_column("member_count")
