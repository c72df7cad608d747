"""mark stored plain text with pln1:

Revision ID: 0007_privacy_store_plain_marker
Revises: 0004_checkin, 0005_promises, 0006_repair

Secret columns used to hold plain text unmarked when DATA_KEY was unset, so a plain text
that began with `enc1:` (a promise, a first name in a message) was read as a token and
failed. Every plain value now carries `pln1:`; this marks the values written before. A
value that starts with `enc1:` but is not shaped like a Fernet token was plain all along
and is marked too. Values already encrypted, already marked, or empty are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_privacy_store_plain_marker"
down_revision: str | Sequence[str] | None = ("0004_checkin", "0005_promises", "0006_repair")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The secret columns when this migration was written: (table, column).
SECRET_COLUMNS = (
    ("outbox", "body"),
    ("checkin_answer", "answer"),
    ("promise", "what"),
    ("repair", "ownership"),
    ("repair", "impact"),
    ("repair", "change"),
    ("repair", "need"),
)
ENCRYPTED = "enc1:"
PLAIN = "pln1:"
# A Fernet token: version byte 0x80 ("gAAAAA" in URL-safe base64), then base64 only.
TOKEN = re.compile(r"gAAAAA[A-Za-z0-9_\-]+=*")


def _needs_marker(value: str) -> bool:
    if not value or value.startswith(PLAIN):
        return False
    if value.startswith(ENCRYPTED):
        return TOKEN.fullmatch(value[len(ENCRYPTED) :]) is None
    return True


def upgrade() -> None:
    connection = op.get_bind()
    tables = set(sa.inspect(connection).get_table_names())
    for table_name, column_name in SECRET_COLUMNS:
        if table_name not in tables:
            continue
        table = sa.table(table_name, sa.column("id", sa.Integer), sa.column(column_name, sa.Text))
        column = table.c[column_name]
        rows = connection.execute(sa.select(table.c.id, column).where(column.is_not(None))).all()
        for row_id, value in rows:
            if _needs_marker(value):
                connection.execute(
                    sa.update(table)
                    .where(table.c.id == row_id, column == value)
                    .values({column_name: PLAIN + value})
                )


def downgrade() -> None:
    connection = op.get_bind()
    tables = set(sa.inspect(connection).get_table_names())
    for table_name, column_name in SECRET_COLUMNS:
        if table_name not in tables:
            continue
        table = sa.table(table_name, sa.column("id", sa.Integer), sa.column(column_name, sa.Text))
        column = table.c[column_name]
        connection.execute(
            sa.update(table)
            .where(column.like(PLAIN + "%"))
            .values({column_name: sa.func.substr(column, len(PLAIN) + 1)})
        )
