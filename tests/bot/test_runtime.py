"""The runtime's promises: every timer fires once, late ones say so, nothing is lost."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError

from bot.clock import FixedClock
from bot.db import session_scope
from bot.delivery.models import Outbox, Timer
from bot.delivery.outbox import persist, split_long
from bot.runtime import SEND_CLAIM_TIMEOUT, TIMER_CLAIM_TIMEOUT, Runtime
from bot.texts import render
from flows import buttons, onboarding
from flows.models import Couple, Partner
from flows.outcome import CancelTimers, Send, SetTimer, Text, ToGroup, ToPartner, keyboard
from tests.bot.fake_api import SpeaksApi
from tests.helpers import GROUP_ID, T0, make_couple

REMINDER = onboarding.INVITE_REMINDER
REMINDER_TEXT = "one tap on the button below"
REMINDER_START = "Ana & Ben"
WELCOME_BACK = render(Text("onboarding.welcome_back"))


@pytest.fixture
def engine(any_engine: Engine) -> Engine:
    """These storage rules run on SQLite and, when configured, on PostgreSQL."""
    return any_engine


@dataclass
class FakeBot(SpeaksApi):
    """Records what would reach Telegram; chats can be made to fail."""

    sent: list[tuple[int, str]] = field(default_factory=list)
    failures: dict[int, list[Exception]] = field(default_factory=dict)
    next_id: int = 1
    # The buttons of each message sent, as Telegram gets them (None: no keyboard).
    markups: list[Any] = field(default_factory=list)

    async def send_message(self, chat_id: int, text: str, reply_markup: Any = None) -> Any:
        queue = self.failures.get(chat_id)
        if queue:
            raise queue.pop(0)
        self.sent.append((chat_id, text))
        self.markups.append(reply_markup.to_dict() if reply_markup is not None else None)
        self.next_id += 1
        return SimpleNamespace(message_id=self.next_id)

    def texts(self, chat_id: int | None = None) -> list[str]:
        return [text for chat, text in self.sent if chat_id is None or chat == chat_id]


def runtime_for(engine: Engine, clock: FixedClock, bot: FakeBot) -> Runtime:
    runtime = Runtime(engine, clock)
    runtime.bot = bot  # type: ignore[assignment]
    return runtime


def seed_reminder(
    engine: Engine,
    *,
    private_open: bool = False,
    due_in: timedelta = timedelta(0),
    group_id: int = GROUP_ID,
) -> int:
    """A formed couple whose partners have not opened the private chat, and a due reminder."""
    with session_scope(engine) as session:
        couple, _ana, _ben = make_couple(session, private_open=private_open, group_id=group_id)
        persist(session, [SetTimer(REMINDER, couple.id or 0, T0 + due_in)], T0, claim=False)
        return couple.id or 0


async def settle(runtime: Runtime) -> None:
    await runtime.sweep()
    for _ in range(50):
        task = runtime._deliver_task
        if task is None or task.done():
            break
        await asyncio.sleep(0.01)


def timer_states(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return [timer.state for timer in session.exec(select(Timer))]


async def test_a_due_timer_is_handled_once_and_its_message_sent(engine: Engine) -> None:
    seed_reminder(engine)
    bot = FakeBot()
    runtime = runtime_for(engine, FixedClock(T0), bot)
    await settle(runtime)
    await settle(runtime)
    assert len(bot.texts(GROUP_ID)) == 1
    assert "Ana & Ben" in bot.texts(GROUP_ID)[0]
    assert timer_states(engine) == ["done"]


async def test_a_timer_not_yet_due_waits(engine: Engine) -> None:
    seed_reminder(engine, due_in=timedelta(hours=1))
    bot = FakeBot()
    clock = FixedClock(T0)
    runtime = runtime_for(engine, clock, bot)
    await settle(runtime)
    assert bot.sent == [] and timer_states(engine) == ["pending"]
    clock.advance(timedelta(hours=1))
    await settle(runtime)
    [(chat, text)] = bot.sent
    assert chat == GROUP_ID and text.startswith(REMINDER_START)  # on time: no apology


async def test_a_claim_left_by_a_crashed_process_is_taken_back_after_the_timeout(
    engine: Engine,
) -> None:
    seed_reminder(engine)
    clock = FixedClock(T0)
    crashed = runtime_for(engine, clock, FakeBot())
    assert len(crashed._claim_timers()) == 1  # claimed, then the process "dies"
    bot = FakeBot()
    survivor = runtime_for(engine, clock, bot)
    clock.advance(TIMER_CLAIM_TIMEOUT - timedelta(seconds=1))
    await settle(survivor)
    assert bot.sent == [] and timer_states(engine) == ["claimed"]
    clock.advance(timedelta(seconds=2))
    await settle(survivor)
    [(_chat, text)] = bot.sent
    assert REMINDER_TEXT in text and timer_states(engine) == ["done"]


async def test_a_stale_claimer_cannot_finish_a_timer_someone_else_took_back(
    engine: Engine,
) -> None:
    seed_reminder(engine)
    clock = FixedClock(T0)
    slow = runtime_for(engine, clock, FakeBot())
    [(timer_id, claimed_at)] = slow._claim_timers()
    clock.advance(TIMER_CLAIM_TIMEOUT + timedelta(seconds=1))
    bot = FakeBot()
    await settle(runtime_for(engine, clock, bot))
    slow._handle_timer(timer_id, claimed_at)  # wakes up late: must not handle it again
    with Session(engine) as session:
        assert len(session.exec(select(Outbox)).all()) == 1
    [(_chat, text)] = bot.sent
    assert REMINDER_TEXT in text


async def test_a_message_claimed_but_never_sent_is_delivered_after_the_timeout(
    engine: Engine,
) -> None:
    with session_scope(engine) as session:
        couple, _ana, _ben = make_couple(session)
        persist(
            session,
            [Send(ToGroup(couple.id or 0), Text("onboarding.welcome_back"))],
            T0,
            claim=True,
        )  # the process dies before delivering
    clock = FixedClock(T0)
    bot = FakeBot()
    runtime = runtime_for(engine, clock, bot)
    await settle(runtime)
    assert bot.sent == []
    clock.advance(SEND_CLAIM_TIMEOUT + timedelta(seconds=1))
    await settle(runtime)
    assert bot.texts() == [WELCOME_BACK]


async def test_duplicate_only_when_dying_between_acceptance_and_marking_sent(
    engine: Engine,
) -> None:
    """The documented at-least-once window: Telegram accepted, the row was not marked."""
    with session_scope(engine) as session:
        couple, _ana, _ben = make_couple(session)
        committed = persist(
            session,
            [Send(ToGroup(couple.id or 0), Text("onboarding.welcome_back"))],
            T0,
            claim=True,
        )
    clock = FixedClock(T0)
    bot = FakeBot()
    runtime = runtime_for(engine, clock, bot)

    class ProcessDied(Exception):
        pass

    def crash(*_args: object) -> None:
        raise ProcessDied

    runtime._finish = crash  # type: ignore[method-assign]
    with pytest.raises(ProcessDied):
        await runtime.deliver(committed.rows)
    assert bot.texts() == [WELCOME_BACK]
    survivor = runtime_for(engine, clock, bot)
    clock.advance(SEND_CLAIM_TIMEOUT + timedelta(seconds=1))
    await settle(survivor)
    assert bot.texts() == [WELCOME_BACK] * 2  # the one duplicate the guarantee allows
    await settle(survivor)
    assert bot.texts() == [WELCOME_BACK] * 2


async def test_a_timer_handled_late_says_so_honestly(engine: Engine) -> None:
    seed_reminder(engine)
    bot = FakeBot()
    await settle(runtime_for(engine, FixedClock(T0 + timedelta(hours=5)), bot))
    [text] = bot.texts(GROUP_ID)
    assert text.startswith("(Sorry, this comes late")
    assert timer_states(engine) == ["done"]


@pytest.mark.parametrize(
    ("late_by", "says_so"),
    [
        (timedelta(seconds=90), False),  # a busy sweep, not worth an apology
        (timedelta(minutes=3), True),  # past the 2 minutes the README promises
    ],
)
async def test_only_a_timer_more_than_two_minutes_late_apologises(
    engine: Engine, late_by: timedelta, says_so: bool
) -> None:
    seed_reminder(engine)
    bot = FakeBot()
    await settle(runtime_for(engine, FixedClock(T0 + late_by), bot))
    [text] = bot.texts(GROUP_ID)
    assert text.startswith("(Sorry, this comes late") is says_so
    assert "one tap on the button below" in text


async def test_a_timer_too_late_to_be_useful_is_closed_as_missed(engine: Engine) -> None:
    seed_reminder(engine)
    bot = FakeBot()
    await settle(runtime_for(engine, FixedClock(T0 + timedelta(days=4)), bot))
    assert bot.sent == []
    assert timer_states(engine) == ["missed"]


async def test_cancelled_timers_never_fire(engine: Engine) -> None:
    couple_id = seed_reminder(engine, due_in=timedelta(minutes=5))
    with session_scope(engine) as session:
        persist(session, [CancelTimers(couple_id, kind=REMINDER)], T0, claim=False)
    bot = FakeBot()
    await settle(runtime_for(engine, FixedClock(T0 + timedelta(hours=1)), bot))
    assert bot.sent == [] and timer_states(engine) == ["cancelled"]


async def test_a_partner_who_blocked_the_bot_is_written_to_in_the_group(engine: Engine) -> None:
    with session_scope(engine) as session:
        _couple, ana, _ben = make_couple(session)
        persist(
            session,
            [Send(ToPartner(ana.id or 0), Text("onboarding.welcome_back"))],
            T0,
            claim=False,
        )
        ana_user = ana.user_id
    bot = FakeBot(failures={ana_user: [Forbidden("Forbidden: bot was blocked by the user")]})
    await settle(runtime_for(engine, FixedClock(T0), bot))
    [text] = bot.texts(GROUP_ID)
    assert text.startswith("For Ana:")
    with Session(engine) as session:
        assert (
            session.exec(select(Partner).where(Partner.user_id == ana_user)).one().private_blocked
        )


async def test_a_group_that_removed_the_bot_keeps_its_messages_and_timers_until_it_returns(
    engine: Engine,
) -> None:
    couple_id = seed_reminder(engine)
    clock = FixedClock(T0)
    bot = FakeBot(failures={GROUP_ID: [Forbidden("Forbidden: bot was kicked from the group")]})
    runtime = runtime_for(engine, clock, bot)
    await settle(runtime)
    assert bot.sent == []
    with session_scope(engine) as session:
        assert session.get(Couple, couple_id).group_reachable is False  # type: ignore[union-attr]
        assert [row.state for row in session.exec(select(Outbox))] == ["held"]
        persist(session, [SetTimer(REMINDER, couple_id, T0)], T0, claim=False)
    await settle(runtime)
    assert bot.sent == [] and "pending" in timer_states(engine)  # waits, not lost
    with session_scope(engine) as session:
        effects = onboarding.bot_membership(session, GROUP_ID, "Ana & Ben", "member", "UTC", T0)
        persist(session, effects, T0, claim=False)
    await settle(runtime)
    texts = bot.texts(GROUP_ID)  # the held reminder, "I'm back", the second reminder
    assert len(texts) == 3 and texts.count(WELCOME_BACK) == 1
    assert sum(REMINDER_TEXT in text for text in texts) == 2


async def test_a_group_upgraded_to_a_supergroup_gets_the_message_at_its_new_id(
    engine: Engine,
) -> None:
    couple_id = seed_reminder(engine)
    bot = FakeBot(failures={GROUP_ID: [ChatMigrated(-100999)]})
    await settle(runtime_for(engine, FixedClock(T0), bot))
    [text] = bot.texts(-100999)
    assert REMINDER_TEXT in text
    with Session(engine) as session:
        assert session.get(Couple, couple_id).group_chat_id == -100999  # type: ignore[union-attr]


async def test_a_network_error_is_retried_with_backoff_not_in_a_tight_loop(
    engine: Engine,
) -> None:
    seed_reminder(engine)
    bot = FakeBot(failures={GROUP_ID: [NetworkError("connection reset")] * 3})
    clock = FixedClock(T0)
    runtime = runtime_for(engine, clock, bot)
    await settle(runtime)
    await settle(runtime)
    assert bot.sent == [] and len(bot.failures[GROUP_ID]) == 2  # one try, then it waits
    clock.advance(timedelta(seconds=11))
    await settle(runtime)
    assert bot.sent == [] and len(bot.failures[GROUP_ID]) == 1
    clock.advance(timedelta(seconds=11))
    await settle(runtime)
    assert bot.sent == [] and len(bot.failures[GROUP_ID]) == 1  # the second wait is 20 s
    clock.advance(timedelta(seconds=10))
    await settle(runtime)
    assert bot.sent == [] and bot.failures[GROUP_ID] == []  # third try failed: wait 40 s
    clock.advance(timedelta(seconds=41))
    await settle(runtime)
    assert len(bot.texts(GROUP_ID)) == 1
    with Session(engine) as session:
        [row] = session.exec(select(Outbox)).all()
        assert row.state == "sent" and row.attempts == 4  # every try counts


async def test_a_message_telegram_refuses_is_marked_failed_not_retried_forever(
    engine: Engine,
) -> None:
    seed_reminder(engine)
    bot = FakeBot(failures={GROUP_ID: [BadRequest("Bad Request: something odd")]})
    runtime = runtime_for(engine, FixedClock(T0), bot)
    await settle(runtime)
    await settle(runtime)
    assert bot.sent == []
    with Session(engine) as session:
        assert [row.state for row in session.exec(select(Outbox))] == ["failed"]


def test_text_over_telegrams_limit_is_split_at_line_breaks() -> None:
    body = "\n".join(f"line {index} " + "x" * 90 for index in range(100))
    parts = split_long(body)
    assert len(parts) > 1 and all(len(part) <= 4096 for part in parts)
    assert "".join(part.replace("\n", "") for part in parts) == body.replace("\n", "")
    assert split_long("y" * 9000) == ["y" * 4096, "y" * 4096, "y" * 808]


async def test_sent_text_is_erased_after_three_days_and_rows_deleted_after_a_month(
    engine: Engine,
) -> None:
    seed_reminder(engine)
    clock = FixedClock(T0)
    runtime = runtime_for(engine, clock, FakeBot())
    await settle(runtime)
    clock.advance(timedelta(days=3, minutes=1))
    runtime.purge_delivered()
    with Session(engine) as session:
        [row] = session.exec(select(Outbox)).all()
        assert row.state == "sent" and row.body == "" and row.message_id is not None
    clock.advance(timedelta(days=30))
    runtime.purge_delivered()
    with Session(engine) as session:
        assert session.exec(select(Outbox)).all() == []


async def test_a_flow_that_loses_a_race_on_a_unique_rule_runs_again(engine: Engine) -> None:
    """Both partners send /pause at once: the loser's flow reruns and sees the winner's row."""
    with session_scope(engine) as session:
        make_couple(session)
    calls: list[int] = []

    def flow(session: Session, now: Any) -> list[Any]:
        calls.append(1)
        if len(calls) == 1:  # a row someone else committed a moment earlier
            session.add(Couple(group_chat_id=GROUP_ID, created_at=T0))
            session.flush()
        return [Send(ToGroup(1), Text("onboarding.welcome_back"))]

    bot = FakeBot()
    runtime = runtime_for(engine, FixedClock(T0), bot)
    await runtime.run(flow)
    await runtime.settled()
    assert len(calls) == 2 and len(bot.texts(GROUP_ID)) == 1


def test_database_errors_never_carry_what_was_written(engine: Engine) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError) as raised, Session(engine) as session:
        session.add(Couple(group_chat_id=GROUP_ID, title="a private sentence", created_at=T0))
        session.add(Couple(group_chat_id=GROUP_ID, title="a private sentence", created_at=T0))
        session.commit()
    assert "a private sentence" not in str(raised.value)


async def test_a_group_at_its_limit_holds_up_no_other_chat(engine: Engine) -> None:
    """A busy group's later rows wait unclaimed while every other chat gets its message."""
    busy = seed_reminder(engine, group_id=-7000)
    with session_scope(engine) as session:
        persist(session, [SetTimer(REMINDER, busy, T0) for _ in range(24)], T0, claim=False)
    for index in range(5):
        seed_reminder(engine, group_id=-7100 - index)
    gate = asyncio.Event()

    class SlowGroupBot(FakeBot):
        async def send_message(self, chat_id: int, text: str, reply_markup: Any = None) -> Any:
            if chat_id == -7000:
                await gate.wait()  # the busy group waits on its rate limit
            return await super().send_message(chat_id, text, reply_markup)

    bot = SlowGroupBot()
    runtime = runtime_for(engine, FixedClock(T0), bot)
    await runtime.fire_due()
    runtime.kick_delivery()
    for _ in range(100):
        if len(bot.sent) >= 5:
            break
        await asyncio.sleep(0.02)
    assert sorted(chat for chat, _ in bot.sent) == [-7104, -7103, -7102, -7101, -7100]
    with Session(engine) as session:
        states = [row.state for row in session.exec(select(Outbox).where(Outbox.chat_id == -7000))]
    assert states.count("sending") == 10 and states.count("pending") == 15
    gate.set()
    await settle(runtime)
    assert len(bot.texts(-7000)) == 25


def _labels(markup: Any) -> list[str]:
    return [button["text"] for row in (markup or {}).get("inline_keyboard", []) for button in row]


async def test_buttons_reach_telegram_and_follow_a_message_into_the_group(engine: Engine) -> None:
    """A message with buttons keeps them, also when a blocked private chat sends it to the group
    instead (found by mutation testing: no test looked at the keyboard that was sent)."""
    with session_scope(engine) as session:
        couple, ana, _ben = make_couple(session)
        join = keyboard(
            [buttons.button(Text("onboarding.button_join"), onboarding.JOIN, couple.id or 0, "in")]
        )
        body = Text("onboarding.welcome_back")
        persist(
            session,
            [
                Send(ToGroup(couple.id or 0), body, buttons=join),
                Send(ToPartner(ana.id or 0), body, buttons=join),
            ],
            T0,
            claim=False,
        )
        ana_user = ana.user_id
    bot = FakeBot(failures={ana_user: [Forbidden("Forbidden: bot was blocked by the user")]})
    await settle(runtime_for(engine, FixedClock(T0), bot))
    assert [chat for chat, _text in bot.sent] == [GROUP_ID, GROUP_ID]
    assert [_labels(markup) for markup in bot.markups] == [["I'm in"], ["I'm in"]]
    assert bot.texts()[1].startswith("For Ana:")


async def test_a_moved_group_takes_only_its_own_waiting_messages(engine: Engine) -> None:
    seed_reminder(engine)
    other = seed_reminder(engine, group_id=-3003)
    with session_scope(engine) as session:
        persist(session, [Send(ToGroup(other), Text("onboarding.welcome_back"))], T0, claim=False)
    bot = FakeBot(failures={GROUP_ID: [ChatMigrated(-100999)], -3003: [NetworkError("blip")]})
    await settle(runtime_for(engine, FixedClock(T0), bot))
    with Session(engine) as session:
        chats = sorted(
            {row.chat_id for row in session.exec(select(Outbox)) if row.couple_id == other}
        )
    assert chats == [-3003]  # the other couple's messages stay with their own group
