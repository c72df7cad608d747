"""Taking one row for the rest of a transaction, on SQLite and PostgreSQL alike.

Two partners can press at the same moment ("I'm ready", the last check-in answer).
A flow that reads a row, decides, and writes would let both decide on the old state:
each sees the other as not done yet, and the step that needs both never happens.

`hold` updates the row to itself before anything is decided. On PostgreSQL that takes
the row's write lock (as `SELECT … FOR UPDATE` would), so the second transaction waits
at this statement until the first commits; on SQLite the first write of a transaction
takes the database's single write lock (what `BEGIN IMMEDIATE` would), with the same
effect. After it the row is read again, so the decision is made on what is committed.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import update
from sqlmodel import Session, SQLModel, select

Row = TypeVar("Row", bound=SQLModel)


def hold(session: Session, row: Row) -> Row:
    """Lock `row` for this transaction and return it as committed now (fresh from the database)."""
    model: Any = type(row)
    key, row_id = model.id, getattr(row, "id")  # noqa: B009 - every held table has an id
    session.execute(
        update(model)
        .where(key == row_id)
        .values(id=key)
        .execution_options(synchronize_session=False)
    )
    fresh = session.exec(
        select(model).where(key == row_id).execution_options(populate_existing=True)
    ).one()
    held: Row = fresh
    return held
