"""/forget leaves nothing behind: an explicit list of tables, filled and then empty."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session, SQLModel

from bot.db import session_scope
from bot.delivery.outbox import persist
from flows import buttons
from flows.data_rights import forget
from flows.outcome import ForgetMessages
from tests.helpers import ANA_ID, T0, button_data, in_group, make_couple, sends
from tests.rows import fill_everything

# Written out rather than derived from the product's own idea of "the couple's rows": a table
# /forget skips must fail this test, and a new table must be added here on purpose.
EVERY_TABLE = (
    "couple",
    "partner",
    "timer",
    "outbox",
    "pause",
    "checkin_schedule",
    "checkin",
    "checkin_turn",
    "checkin_answer",
    "promise",
    "promisecheck",
    "repair",
    "hurt_note",
    "soft_restart",
    "thanks",
)
# Tables that hold no couple's data, each for its reason.
NOT_A_COUPLES = (
    "heartbeat",  # a host name and a time (`mend check --running`)
    "inbox",  # an update waits here until handled; its payload is erased then
    "couple_choice",  # one person's command waiting an hour for "which couple?": not one couple's
)


@pytest.fixture
def engine(any_engine: Engine) -> Engine:
    """On SQLite and, when configured, on PostgreSQL."""
    return any_engine


def _counts(session: Session) -> dict[str, int]:
    tables = SQLModel.metadata.tables
    return {
        name: session.execute(select(func.count()).select_from(tables[name])).scalar_one()
        for name in EVERY_TABLE
    }


def test_the_list_names_every_table_the_product_has() -> None:
    assert sorted(SQLModel.metadata.tables) == sorted(EVERY_TABLE + NOT_A_COUPLES)


def test_forget_empties_every_table_of_a_couple_that_used_everything(engine: Engine) -> None:
    with session_scope(engine) as session:
        couple, ana, ben = make_couple(session)
        fill_everything(session, couple, ana, ben)
    with session_scope(engine) as session:
        filled = _counts(session)
        assert all(filled.values()), filled  # every kind of row is really there
        [confirm] = sends(forget(session, in_group(ANA_ID, "Ana"), "", T0))
        yes = next(data for data in button_data(confirm) if data.endswith("|yes"))
        effects = buttons.handle_press(session, in_group(ANA_ID, "Ana"), yes, T0)
        # What the shell does next: the delivery layer erases the stored messages (the
        # group is then told, in a row of its own that belongs to no couple).
        persist(session, [e for e in effects if isinstance(e, ForgetMessages)], T0, claim=False)
    with Session(engine) as session:
        assert _counts(session) == dict.fromkeys(EVERY_TABLE, 0)
