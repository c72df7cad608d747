"""A finished step's message is tidied wherever it is: on screen, still waiting, or gone."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from telegram.error import BadRequest

from bot.clock import FixedClock
from bot.db import session_scope
from bot.delivery.chats import latest_question
from bot.delivery.models import Outbox
from bot.delivery.outbox import persist
from bot.runtime import Runtime
from flows import buttons
from flows.outcome import (
    EditTagged,
    Send,
    Text,
    ToGroup,
    ToPartner,
    keyboard,
    takes_replies,
    tidy_tag,
)
from tests.bot.test_runtime import FakeBot, runtime_for
from tests.helpers import ANA_ID, GROUP_ID, T0, make_couple

TAG = tidy_tag("checkin.waiting", 7, 1)
LIVE = keyboard([buttons.button(Text("checkin.button_change", {"number": 1}), "ciq", 7, "edit1")])
TIDY = Text("checkin.shared_line")
SHARED_LINE = "Your answers are shared in the group; next week's check-in asks again."


@pytest.fixture
def engine(any_engine: Engine) -> Engine:
    """These storage rules run on SQLite and, when configured, on PostgreSQL."""
    return any_engine


@dataclass
class EditingBot(FakeBot):
    """A FakeBot that also edits; messages listed in `gone` were deleted in Telegram."""

    edits: list[tuple[int, int, str | None, Any]] = field(default_factory=list)
    gone: set[int] = field(default_factory=set)

    async def edit_message_text(
        self, text: str, chat_id: int, message_id: int, reply_markup: Any = None
    ) -> Any:
        self._check(message_id)
        self.edits.append((chat_id, message_id, text, reply_markup))
        return True

    async def edit_message_reply_markup(
        self, chat_id: int, message_id: int, reply_markup: Any = None
    ) -> Any:
        self._check(message_id)
        self.edits.append((chat_id, message_id, None, reply_markup))
        return True

    def _check(self, message_id: int) -> None:
        if message_id in self.gone:
            raise BadRequest("Message to edit not found")


def sent_waiting_message(engine: Engine, *, private_open: bool = True) -> int:
    """Ana's "thanks, that's all four" with its Change buttons, not yet delivered."""
    with session_scope(engine) as session:
        _couple, ana, _ben = make_couple(session, private_open=private_open)
        persist(
            session,
            [Send(ToPartner(ana.id or 0), Text("checkin.edit_intro"), buttons=LIVE, tag=TAG)],
            T0,
            claim=False,
        )
        return ana.id or 0


def tidy(engine: Engine, ana_id: int, *, claim: bool = False) -> list[Outbox]:
    with session_scope(engine) as session:
        committed = persist(session, [EditTagged(ToPartner(ana_id), TAG, TIDY)], T0, claim=claim)
        return committed.rows


def outbox(engine: Engine) -> list[Outbox]:
    with Session(engine) as session:
        return list(session.exec(select(Outbox).order_by(Outbox.id)))  # type: ignore[arg-type]


async def deliver(runtime: Runtime) -> None:
    rows = await asyncio.to_thread(runtime._claim_outbox)
    await runtime.deliver(rows)


async def test_a_sent_step_message_is_edited_to_one_line_without_buttons(engine: Engine) -> None:
    ana = sent_waiting_message(engine)
    bot = EditingBot()
    runtime = runtime_for(engine, FixedClock(T0), bot)
    await deliver(runtime)
    [(chat_id, _text)] = bot.sent
    message_id = outbox(engine)[0].message_id
    tidy(engine, ana)
    await deliver(runtime)
    assert bot.edits == [(ANA_ID, message_id, SHARED_LINE, None)]
    assert chat_id == ANA_ID
    assert [row.state for row in outbox(engine)] == ["sent", "sent"]


async def test_a_step_message_still_waiting_goes_out_already_tidy(engine: Engine) -> None:
    ana = sent_waiting_message(engine)
    assert tidy(engine, ana) == []
    bot = EditingBot()
    await deliver(runtime_for(engine, FixedClock(T0), bot))
    assert bot.texts(ANA_ID) == [SHARED_LINE]
    assert bot.markups == [None] and bot.edits == []


async def test_a_step_message_meant_for_a_closed_private_chat_is_tidied_where_it_went(
    engine: Engine,
) -> None:
    ana = sent_waiting_message(engine, private_open=False)
    bot = EditingBot()
    runtime = runtime_for(engine, FixedClock(T0), bot)
    await deliver(runtime)
    tidy(engine, ana)
    await deliver(runtime)
    [(chat_id, _message_id, body, markup)] = bot.edits
    assert chat_id == GROUP_ID and markup is None
    assert body is not None and body.startswith("For Ana")


async def test_nothing_happens_for_a_step_message_never_sent(engine: Engine) -> None:
    with session_scope(engine) as session:
        _couple, ana, _ben = make_couple(session)
        ana_id = ana.id or 0
    assert tidy(engine, ana_id) == []
    assert outbox(engine) == []


async def test_only_the_newest_message_with_the_tag_in_that_partners_chats_is_tidied(
    engine: Engine,
) -> None:
    ana = sent_waiting_message(engine)
    with session_scope(engine) as session:
        couple_id = make_couple(session, group_id=-2002, user_ids=(501, 502))[0].id or 0
        persist(
            session,
            [Send(ToGroup(couple_id), Text("checkin.edit_intro"), buttons=LIVE, tag=TAG)],
            T0,
            claim=False,
        )
    bot = EditingBot()
    runtime = runtime_for(engine, FixedClock(T0), bot)
    await deliver(runtime)
    tidy(engine, ana)
    await deliver(runtime)
    assert [(chat, message_id) for chat, message_id, _body, _markup in bot.edits] == [
        (ANA_ID, outbox(engine)[0].message_id)
    ]


async def test_a_step_message_deleted_in_telegram_ends_the_edit_quietly(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    ana = sent_waiting_message(engine)
    with session_scope(engine) as session:
        persist(session, [Send(ToPartner(ana), Text("checkin.edit_intro"))], T0, claim=False)
    bot = EditingBot()
    runtime = runtime_for(engine, FixedClock(T0), bot)
    await deliver(runtime)
    bot.gone.add(outbox(engine)[0].message_id or 0)
    tidy(engine, ana)
    with session_scope(engine) as session:
        persist(session, [Send(ToPartner(ana), Text("checkin.edit_intro"))], T0, claim=False)
    caplog.set_level("INFO")
    await deliver(runtime)
    assert [row.state for row in outbox(engine)] == ["sent", "sent", "failed", "sent"]
    assert len(bot.texts(ANA_ID)) == 3  # the message after the edit still went out
    assert runtime.refused == {} and "ERROR" not in caplog.text


async def test_a_step_tidied_while_its_message_is_on_its_way_is_edited_after_it(
    engine: Engine,
) -> None:
    ana = sent_waiting_message(engine)
    bot = EditingBot()
    runtime = runtime_for(engine, FixedClock(T0), bot)
    in_flight = await asyncio.to_thread(runtime._claim_outbox)
    [edit_row] = tidy(engine, ana, claim=True)
    assert edit_row.message_id is None
    await runtime.deliver(in_flight)
    await runtime.deliver([edit_row])
    message_id = outbox(engine)[0].message_id
    assert [(chat, mid, markup) for chat, mid, _body, markup in bot.edits] == [
        (ANA_ID, message_id, None)
    ]


async def test_a_message_with_no_buttons_and_no_new_text_needs_no_edit(engine: Engine) -> None:
    with session_scope(engine) as session:
        _couple, ana, _ben = make_couple(session)
        persist(
            session,
            [Send(ToPartner(ana.id or 0), Text("checkin.edit_intro"), force_reply=True, tag=TAG)],
            T0,
            claim=False,
        )
        ana_id = ana.id or 0
    await deliver(runtime_for(engine, FixedClock(T0), EditingBot()))
    with session_scope(engine) as session:
        committed = persist(session, [EditTagged(ToPartner(ana_id), TAG)], T0, claim=False)
    assert committed.rows == [] and len(outbox(engine)) == 1


def test_a_tidy_tag_never_takes_a_reply() -> None:
    assert not takes_replies(TAG)
    assert takes_replies("checkin:7:1:2") and not takes_replies(None)
    assert json.dumps(TAG).startswith('"~')


def test_private_text_answers_the_question_not_a_step_message_delivered_after_it(
    engine: Engine,
) -> None:
    with session_scope(engine) as session:
        make_couple(session)
        session.add_all(
            [
                Outbox(
                    chat_id=ANA_ID,
                    body="q",
                    tag="checkin:7:1:4",
                    state="sent",
                    sent_at=T0,
                    created_at=T0,
                ),
                Outbox(
                    chat_id=ANA_ID,
                    body="thanks, that's all four",
                    tag=TAG,
                    state="sent",
                    sent_at=T0 + timedelta(seconds=1),
                    created_at=T0,
                ),
            ]
        )
    assert _latest_question(engine, ANA_ID) == "checkin:7:1:4"


async def test_a_step_message_already_tidied_is_not_edited_again(engine: Engine) -> None:
    ana = sent_waiting_message(engine)
    bot = EditingBot()
    runtime = runtime_for(engine, FixedClock(T0), bot)
    await deliver(runtime)
    tidy(engine, ana)
    await deliver(runtime)
    assert tidy(engine, ana) == []
    await deliver(runtime)
    assert len(bot.edits) == 1 and len(outbox(engine)) == 2


async def test_an_edit_still_carrying_a_questions_tag_does_not_make_it_the_latest_question(
    engine: Engine,
) -> None:
    """An edit that waited for its message to arrive carries that message's tag; typing in
    private must still answer the question asked after it."""
    question_1, question_2 = "checkin:7:1:1", "checkin:7:1:2"
    with session_scope(engine) as session:
        _couple, ana, _ben = make_couple(session)
        ana_id = ana.id or 0
        persist(
            session,
            [Send(ToPartner(ana_id), Text("checkin.edit_intro"), buttons=LIVE, tag=question_1)],
            T0,
            claim=False,
        )
    bot = EditingBot()
    clock = FixedClock(T0)
    runtime = runtime_for(engine, clock, bot)
    in_flight = await asyncio.to_thread(runtime._claim_outbox)
    with session_scope(engine) as session:
        [edit_row] = persist(
            session, [EditTagged(ToPartner(ana_id), question_1)], T0, claim=True
        ).rows
        persist(
            session,
            [Send(ToPartner(ana_id), Text("checkin.edit_intro"), buttons=LIVE, tag=question_2)],
            T0,
            claim=False,
        )
    await runtime.deliver(in_flight)
    await runtime.deliver(await asyncio.to_thread(runtime._claim_outbox))
    clock.advance(timedelta(seconds=1))  # the edit went out last
    await runtime.deliver([edit_row])
    assert [row.state for row in outbox(engine)] == ["sent", "sent", "sent"]
    assert _latest_question(engine, ANA_ID) == question_2


@dataclass
class SlowEditBot(EditingBot):
    """Edits wait until released, as one behind a chat's rate limit does."""

    editing: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def edit_message_reply_markup(
        self, chat_id: int, message_id: int, reply_markup: Any = None
    ) -> Any:
        self.editing.set()
        await self.release.wait()
        return await super().edit_message_reply_markup(chat_id, message_id, reply_markup)


async def test_a_question_counts_as_delivered_while_an_edit_behind_it_still_waits(
    engine: Engine,
) -> None:
    """Typing right after the next question appears answers that question, even while the
    previous question's buttons are still being taken away behind it."""
    with session_scope(engine) as session:
        _couple, ana, _ben = make_couple(session)
        ana_id = ana.id or 0
        persist(
            session,
            [
                Send(
                    ToPartner(ana_id), Text("checkin.edit_intro"), buttons=LIVE, tag="checkin:7:1:3"
                )
            ],
            T0,
            claim=False,
        )
    bot = SlowEditBot()
    runtime = runtime_for(engine, FixedClock(T0), bot)
    await deliver(runtime)
    with session_scope(engine) as session:
        rows = persist(
            session,
            [
                Send(
                    ToPartner(ana_id), Text("checkin.edit_intro"), buttons=LIVE, tag="checkin:7:1:4"
                ),
                EditTagged(ToPartner(ana_id), "checkin:7:1:3"),
            ],
            T0,
            claim=True,
        ).rows
    sending = asyncio.create_task(runtime.deliver(rows))
    await asyncio.wait_for(bot.editing.wait(), 5)
    assert _latest_question(engine, ANA_ID) == "checkin:7:1:4"
    bot.release.set()
    await sending


def _latest_question(engine: Engine, chat_id: int) -> str | None:
    with session_scope(engine) as session:
        return latest_question(session, chat_id)


@dataclass
class SlowAnswerBot(EditingBot):
    """Telegram has shown the message (recorded), but its answer is slow to come back."""

    shown: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def send_message(self, chat_id: int, text: str, reply_markup: Any = None) -> Any:
        sent = await super().send_message(chat_id, text, reply_markup)
        self.shown.set()
        await self.release.wait()
        return sent


async def test_text_typed_while_a_question_is_on_its_way_waits_for_its_mark(
    engine: Engine,
) -> None:
    """A partner may answer a question the moment it appears, before Telegram's answer is
    back and the question is marked sent: the shell waits for the mark, so the answer
    goes to that question and not to the one before."""
    with session_scope(engine) as session:
        _couple, ana, _ben = make_couple(session)
        rows = persist(
            session,
            [Send(ToPartner(ana.id or 0), Text("checkin.edit_intro"), tag="checkin:7:1:2")],
            T0,
            claim=True,
        ).rows
    bot = SlowAnswerBot()
    runtime = runtime_for(engine, FixedClock(T0), bot)
    sending = asyncio.create_task(runtime.deliver(rows))
    await asyncio.wait_for(bot.shown.wait(), 5)
    waiting = asyncio.create_task(runtime.questions_marked(ANA_ID))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    assert _latest_question(engine, ANA_ID) is None  # on screen, not marked yet
    bot.release.set()
    await asyncio.wait_for(waiting, 5)
    assert _latest_question(engine, ANA_ID) == "checkin:7:1:2"
    await sending
    # Nothing on its way: no wait at all.
    await asyncio.wait_for(runtime.questions_marked(ANA_ID), 0.05)
