"""Leaving one couple ends that couple's rituals and nothing of another couple's, a person's
question "which couple?" is theirs alone, and Mend removed from a group knows it cannot
write there until it is back."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from flows import buttons, choosing, onboarding, pause
from flows.choosing import CoupleChoice
from flows.pause import Pause
from flows.promises import Promise
from tests.helpers import (
    ANA_ID,
    BEN_ID,
    GROUP_ID,
    T0,
    in_group,
    in_private,
    keys,
    make_couple,
    sends,
)

DAN_ID, EVE_ID = 404, 505


def _leave(session: Session, user_id: int, partner_id: int) -> None:
    data = buttons.data(onboarding.LEAVE, partner_id, "yes")
    buttons.handle_press(session, in_private(user_id), data, T0 + timedelta(hours=1))


def test_leaving_ends_this_couples_promises_and_no_other_couples(session: Session) -> None:
    ours, ana, _ben = make_couple(session)
    theirs, dan, _eve = make_couple(
        session, group_id=GROUP_ID - 1, names=("Dan", "Eve"), user_ids=(DAN_ID, EVE_ID)
    )
    for couple, partner in ((ours, ana), (theirs, dan)):
        session.add(
            Promise(
                couple_id=couple.id or 0,
                partner_id=partner.id or 0,
                number=1,
                what="phone away",
                state="active",
                created_at=T0,
            )
        )
    session.flush()
    _leave(session, ANA_ID, ana.id or 0)
    states = {row.couple_id: row.state for row in session.exec(select(Promise))}
    assert states == {ours.id: "ended", theirs.id: "active"}


def test_a_break_ended_by_leaving_records_who_left(session: Session) -> None:
    _couple, _ana, ben = make_couple(session)
    pause.pause(session, in_group(ANA_ID), "30", T0)
    _leave(session, BEN_ID, ben.id or 0)
    ended = session.exec(select(Pause)).one()
    assert (ended.state, ended.outcome, ended.ended_by) == (
        pause.PauseState.ENDED,
        pause.Outcome.CLOSED,
        ben.id,
    )


def test_one_persons_which_couple_question_does_not_clear_anothers(session: Session) -> None:
    """Each new question drops the ones older than an hour, and only those."""
    make_couple(session)
    make_couple(session, group_id=GROUP_ID - 1, names=("Ana", "Dan"), user_ids=(ANA_ID, DAN_ID))
    make_couple(session, group_id=GROUP_ID - 2, names=("Ben", "Eve"), user_ids=(BEN_ID, EVE_ID))
    settings = choosing.for_couple("settings", onboarding.show_settings)
    (anas,) = sends(settings(session, in_private(ANA_ID, "Ana"), "", T0))
    settings(session, in_private(BEN_ID, "Ben"), "", T0 + timedelta(minutes=10))
    assert sorted(row.user_id for row in session.exec(select(CoupleChoice))) == [ANA_ID, BEN_ID]
    first = anas.buttons[0][0].data
    pressed = buttons.handle_press(session, in_private(ANA_ID), first, T0 + timedelta(minutes=20))
    assert keys(pressed)[0] == "couples.chosen"


def test_a_bot_removed_from_the_group_holds_the_couples_messages(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    onboarding.bot_membership(session, GROUP_ID, "Ana & Ben", "kicked", "UTC", T0)
    assert couple.group_reachable is False
    back = onboarding.bot_membership(session, GROUP_ID, "Ana & Ben", "member", "UTC", T0)
    assert couple.group_reachable is True and keys(back) == ["onboarding.welcome_back"]
