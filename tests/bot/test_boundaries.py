"""Rules that say "after" or "more than", checked at the exact second and the one after.

A test a minute past the line cannot tell `<` from `<=`; these sit on the line itself.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.clock import FixedClock
from bot.db import session_scope
from bot.delivery.models import Outbox, Timer
from bot.delivery.outbox import persist
from bot.delivery.timers import handle_due
from bot.runtime import DELETE_SENT_AFTER, ERASE_SENT_TEXT_AFTER, WAIT_FOR_PRIVATE_CHAT
from flows import buttons, choosing, onboarding
from flows.feature import installed
from flows.outcome import Send, Text, ToPartner
from flows.timers import LATE_AFTER
from tests.bot.test_runtime import FakeBot, runtime_for, seed_reminder, settle
from tests.helpers import ANA_ID, GROUP_ID, T0, in_private, keys, make_couple, sends

SECOND = timedelta(seconds=1)
ON_THE_LINE = pytest.mark.parametrize(("past", "crossed"), [(timedelta(0), False), (SECOND, True)])


@ON_THE_LINE
async def test_a_timer_apologises_only_when_more_than_two_minutes_late(
    engine: Engine, past: timedelta, crossed: bool
) -> None:
    seed_reminder(engine)
    bot = FakeBot()
    await settle(runtime_for(engine, FixedClock(T0 + LATE_AFTER + past), bot))
    [text] = bot.texts(GROUP_ID)
    assert text.startswith("(Sorry, this comes late") is crossed


@ON_THE_LINE
def test_a_timer_is_still_handled_at_the_last_second_it_is_useful(
    session: Session, past: timedelta, crossed: bool
) -> None:
    couple, _ana, _ben = make_couple(session, private_open=False)
    kind = installed().timers[onboarding.INVITE_REMINDER]
    timer = Timer(couple_id=couple.id or 0, kind=kind.name, due_at=T0, payload="{}", created_at=T0)
    session.add(timer)
    session.flush()
    effects, state, late = handle_due(session, timer, T0 + kind.useful_for + past)
    assert state == ("missed" if crossed else "done")
    assert bool(sends(effects)) is not crossed and late


@ON_THE_LINE
async def test_sent_text_is_erased_only_after_three_days_and_rows_after_a_month(
    engine: Engine, past: timedelta, crossed: bool
) -> None:
    seed_reminder(engine)
    with session_scope(engine) as session:
        _couple, ana, _ben = make_couple(session, group_id=GROUP_ID - 1, user_ids=(7, 8))
        # Telegram refused this one for good: failed rows are erased the same way.
        welcome = Send(ToPartner(ana.id or 0), Text("onboarding.welcome_back"))
        persist(session, [welcome], T0, claim=False)
        session.flush()
        for row in session.exec(select(Outbox).where(Outbox.chat_id == 7)):
            row.state = "failed"
    clock = FixedClock(T0)
    runtime = runtime_for(engine, clock, FakeBot())
    await settle(runtime)

    def stored() -> list[tuple[str, bool]]:
        """Each row's state, and whether its text is still there."""
        with Session(engine) as session:
            return sorted((row.state, row.body != "") for row in session.exec(select(Outbox)))

    clock.advance(ERASE_SENT_TEXT_AFTER + past)
    runtime.purge_delivered()
    assert stored() == [("failed", not crossed), ("sent", not crossed)]
    clock.set(T0 + DELETE_SENT_AFTER + past)
    runtime.purge_delivered()
    assert stored() == ([] if crossed else [("failed", False), ("sent", False)])


@ON_THE_LINE
async def test_a_message_waits_three_days_for_a_private_chat_and_no_longer(
    engine: Engine, past: timedelta, crossed: bool
) -> None:
    with session_scope(engine) as session:
        _couple, ana, _ben = make_couple(session, private_open=False)
        nudge = Text("promises.nudge", {"what": "phone away", "ask": "21:00"})
        persist(session, [Send(ToPartner(ana.id or 0), nudge)], T0, claim=False)
    clock = FixedClock(T0)
    runtime = runtime_for(engine, clock, FakeBot())
    await settle(runtime)
    clock.advance(WAIT_FOR_PRIVATE_CHAT + past)
    runtime.purge_delivered()
    with Session(engine) as session:
        [waiting] = session.exec(select(Outbox).where(Outbox.chat_id == ANA_ID))
    assert waiting.state == ("failed" if crossed else "waiting")


@ON_THE_LINE
def test_which_couple_is_asked_for_an_hour_and_then_forgotten(
    session: Session, past: timedelta, crossed: bool
) -> None:
    make_couple(session)
    make_couple(session, group_id=GROUP_ID - 1, names=("Ana", "Dan"), user_ids=(ANA_ID, 909))
    settings = choosing.for_couple("settings", onboarding.show_settings)
    ana = in_private(ANA_ID, "Ana")
    (question,) = sends(settings(session, ana, "", T0))
    pressed = buttons.handle_press(
        session, ana, question.buttons[0][0].data, T0 + choosing.CHOICE_KEPT + past
    )
    assert keys(pressed)[0] == ("common.button_expired" if crossed else "couples.chosen")
