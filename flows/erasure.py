"""Which rows belong to a couple or to a partner, in any table, and deleting them.

Generic over every table, so tables added by features this module has never seen are
covered: a row belongs to a couple when its table has a `couple_id` column, or when it
points (by foreign key) at a row that belongs to the couple. Used by /export and /forget
(flows/data_rights.py) and by a group's move that replaces an empty couple (onboarding).

The outbox is the delivery layer's and is left alone here: a flow erases stored messages
by returning `ForgetMessages` / `ForgetPartnerMessages`. Timer rows are deleted with the
couple like any other table's: they point at the couple by foreign key, so they must go
before it, inside the flow, which an effect carried out afterwards could not do.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, Table, delete, or_, select
from sqlmodel import Session, SQLModel

from flows.models import Partner
from flows.secret import SecretText

# The core tables by name (the generic code below works on SQLAlchemy tables).
COUPLE, PARTNER, TIMER, OUTBOX = "couple", "partner", "timer", "outbox"

Selector = Callable[[Table], "ColumnElement[bool] | None"]


# ---- which rows belong to whom --------------------------------------------------------------


def _selected(
    table: Table, direct: Selector, seen: frozenset[str] = frozenset()
) -> ColumnElement[bool] | None:
    """Rows `direct` picks in this table, plus rows pointing (by foreign key) at picked rows."""
    parts: list[ColumnElement[bool]] = []
    own = direct(table)
    if own is not None:
        parts.append(own)
    for foreign_key in table.foreign_keys:
        parent = foreign_key.column.table
        if parent is table or parent.name in seen or not isinstance(parent, Table):
            continue
        upstream = _selected(parent, direct, seen | {table.name})
        if upstream is not None:
            parts.append(foreign_key.parent.in_(select(foreign_key.column).where(upstream)))
    return or_(*parts) if parts else None


def couple_rows(couple_id: int) -> Selector:
    """Selects everything of one couple, in any table."""

    def direct(table: Table) -> ColumnElement[bool] | None:
        if table.name == COUPLE:
            return table.c.id == couple_id
        if "couple_id" in table.c:
            return table.c.couple_id == couple_id
        return None

    return lambda table: _selected(table, direct)


def _has_secret(table: Table) -> bool:
    return any(isinstance(column.type, SecretText) for column in table.columns)


def private_rows_of(partner: Partner) -> Selector:
    """A partner's own intimate rows (a partner_id and secret text), and rows hanging off them.

    By partner id alone (unique across couples): a table need not carry its own couple_id
    (a check-in answer reaches its couple only through its check-in).
    """

    def direct(table: Table) -> ColumnElement[bool] | None:
        if "partner_id" in table.c and _has_secret(table):
            return table.c.partner_id == partner.id
        return None

    return lambda table: _selected(table, direct)


def every_table() -> list[Table]:
    """Every table, parents before children."""
    return list(SQLModel.metadata.sorted_tables)


def delete_selected(session: Session, select_rows: Selector) -> int:
    """Delete the selected rows in every table, children first so foreign keys hold."""
    deleted = 0
    for table in reversed(every_table()):
        if table.name == OUTBOX:
            continue  # the delivery layer's: data rights erase it by effect (ForgetMessages)
        condition = select_rows(table)
        if condition is None:
            continue
        result = session.execute(delete(table).where(condition))
        deleted += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return deleted


def erase_couple(session: Session, couple_id: int) -> int:
    """Delete every row of the couple in every table but the outbox, the couple row last."""
    return delete_selected(session, couple_rows(couple_id))
