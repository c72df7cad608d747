"""What the outbox makes of a message before it goes: which couple it is about, and whether it
can go now."""

from __future__ import annotations

from sqlmodel import Session, select

from bot.delivery.models import Outbox
from bot.delivery.outbox import persist
from flows.outcome import Send, Text, ToGroup, ToPartner
from tests.helpers import ANA_ID, GROUP_ID, T0, make_couple


def test_a_private_message_names_the_couple_only_for_someone_in_two(session: Session) -> None:
    _ours, ana, ben = make_couple(session)
    make_couple(session, group_id=GROUP_ID - 1, names=("Ana", "Dan"), user_ids=(ANA_ID, 909))
    welcome = Text("onboarding.welcome_back")
    committed = persist(
        session,
        [Send(ToPartner(ana.id or 0), welcome), Send(ToPartner(ben.id or 0), welcome)],
        T0,
        claim=False,
    )
    to_ana, to_ben = (row.body for row in committed.rows)
    assert to_ana.startswith("About Ana & Ben:\n") and not to_ben.startswith("About")


def test_a_message_to_a_group_mend_cannot_reach_is_held_not_sent_now(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    couple.group_reachable = False
    committed = persist(
        session, [Send(ToGroup(couple.id or 0), Text("onboarding.welcome_back"))], T0, claim=True
    )
    assert committed.rows == []
    [held] = session.exec(select(Outbox)).all()
    assert held.state == "held"
