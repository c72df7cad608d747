"""outbox: catalogue key, private-only flag and fallback text of each message

Revision ID: 0008_privacy_store_outbox
Revises: 0001_core
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flows.secret

revision: str = "0008_privacy_store_outbox"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key", sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column("private_only", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("fallback", flows.secret.SecretText(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("fallback")
        batch_op.drop_column("private_only")
        batch_op.drop_column("key")
