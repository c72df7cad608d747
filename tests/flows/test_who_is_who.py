"""Who is who is looked up once per transaction, and never answers from before a change."""

from __future__ import annotations

import gc
from typing import Any

from sqlalchemy import Engine, event, update
from sqlmodel import Session, select

from bot.db import session_scope
from flows.couples import couple_for_chat, couples_of_user, partner_of_user, partners_of
from flows.models import Couple, Inbox, Partner
from tests.helpers import ANA_ID, BEN_ID, GROUP_ID, T0, make_couple


def counting(engine: Engine) -> list[str]:
    statements: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _count(_c: Any, _cur: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    return statements


def test_the_same_couple_and_partners_are_read_once_in_a_transaction(engine: Engine) -> None:
    with Session(engine) as session:
        couple, ana, _ben = make_couple(session)
        session.commit()
        couple_id, ana_id = couple.id or 0, ana.id
    statements = counting(engine)
    with Session(engine) as session:
        for _ in range(3):
            assert couple_for_chat(session, GROUP_ID) is not None
            assert [p.user_id for p in partners_of(session, couple_id)] == [ANA_ID, BEN_ID]
            found = partner_of_user(session, couple_id, ANA_ID)
            assert found is not None and found.id == ana_id
            assert [c.id for c, _p in couples_of_user(session, BEN_ID)] == [couple_id]
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 3


def test_a_partner_added_in_the_transaction_is_seen_at_once(engine: Engine) -> None:
    with Session(engine) as session:
        couple = Couple(group_chat_id=GROUP_ID, title="Ana & Ben", timezone="UTC", created_at=T0)
        session.add(couple)
        session.flush()
        assert partners_of(session, couple.id or 0) == []
        session.add(
            Partner(
                couple_id=couple.id or 0,
                user_id=ANA_ID,
                first_name="Ana",
                joined_at=T0,
                last_active_at=T0,
            )
        )
        assert [p.user_id for p in partners_of(session, couple.id or 0)] == [ANA_ID]
        assert partner_of_user(session, couple.id or 0, ANA_ID) is not None
        assert [c.id for c, _p in couples_of_user(session, ANA_ID)] == [couple.id]


def test_a_moved_group_and_a_removed_partner_are_seen_at_once(engine: Engine) -> None:
    with Session(engine) as session:
        couple, ana, _ben = make_couple(session)
        assert couple_for_chat(session, GROUP_ID) is not None
        # A write statement (a group that became a supergroup moves the couple).
        session.execute(update(Couple).where(Couple.id == couple.id).values(group_chat_id=-77))
        assert couple_for_chat(session, GROUP_ID) is None
        assert partner_of_user(session, couple.id or 0, ANA_ID) is not None
        session.delete(ana)
        assert partner_of_user(session, couple.id or 0, ANA_ID) is None
        assert len(partners_of(session, couple.id or 0)) == 1


def test_a_change_committed_elsewhere_is_seen_by_the_next_transaction(engine: Engine) -> None:
    with Session(engine) as session:
        make_couple(session)
        session.commit()
        assert couple_for_chat(session, GROUP_ID) is not None
        session.commit()  # the session's next transaction begins with its next query
        with Session(engine) as other:
            other.execute(update(Couple).values(group_chat_id=-78))
            other.commit()
        assert couple_for_chat(session, GROUP_ID) is None


def test_a_row_read_once_is_not_read_again_in_the_same_transaction(engine: Engine) -> None:
    """The session's identity map holds rows weakly; a transaction holds what it loaded,
    so a flow that let a couple go and asks for it again does not ask the database."""
    with Session(engine) as session:
        couple, _ana, _ben = make_couple(session)
        session.commit()
        couple_id = couple.id
    statements = counting(engine)
    with session_scope(engine) as session:
        session.exec(select(Couple).where(Couple.id == couple_id)).one()
        gc.collect()
        before = len(statements)
        assert session.get(Couple, couple_id) is not None
        assert len(statements) == before


def test_only_a_write_to_couples_or_partners_forgets_the_lookups(engine: Engine) -> None:
    with Session(engine) as session:
        couple, _ana, _ben = make_couple(session)
        session.commit()
        couple_id = couple.id or 0
    statements = counting(engine)
    with Session(engine) as session:
        partners_of(session, couple_id)
        session.execute(update(Inbox).where(Inbox.id == -1).values(state="done"))
        partners_of(session, couple_id)
        session.execute(update(Partner).where(Partner.id == -1).values(first_name="x"))
        partners_of(session, couple_id)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2
