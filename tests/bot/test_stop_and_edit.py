"""A stop gives back what was not sent yet (and nothing the rate limiter already let out); a
pressed message is edited through the outbox."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.clock import FixedClock
from bot.delivery.models import Outbox
from bot.delivery.outbox import persist
from bot.runtime import REQUEST_GOES_OUT, Runtime
from bot.texts import render
from flows import buttons
from flows.outcome import EditOrigin, Send, Text, ToChat, keyboard
from tests.bot.fake_api import SpeaksApi
from tests.helpers import T0

HELLO = Text("onboarding.welcome_back")


class StuckBot(SpeaksApi):
    """Telegram that never answers: every send hangs until it is cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = False

    async def send_message(self, chat_id: int, text: str, reply_markup: Any = None) -> Any:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def test_a_stop_gives_back_the_messages_not_yet_tried(engine: Engine) -> None:
    runtime = Runtime(engine, FixedClock(T0))
    bot = StuckBot()
    runtime.bot = bot  # type: ignore[assignment]
    await runtime.run(lambda session, now: [Send(ToChat(11), HELLO), Send(ToChat(11), HELLO)])
    await asyncio.wait_for(bot.started.wait(), timeout=5)
    await runtime.stop(grace=0.05)
    assert bot.cancelled  # past the grace, the send under way is cut off
    with Session(engine) as session:
        rows = session.exec(select(Outbox).order_by(Outbox.id)).all()  # type: ignore[arg-type]
        # The first was on its way when the stop came (its claim runs out); the second goes
        # out after the next start.
        assert [(row.state, row.claimed_at is None) for row in rows] == [
            ("sending", False),
            ("pending", True),
        ]


class LimitedBot(SpeaksApi):
    """Telegram behind Mend's rate limiter, which reports each request as it leaves."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_message(self, chat_id: int, text: str, reply_markup: Any = None) -> Any:
        report = REQUEST_GOES_OUT.get()
        assert report is not None
        report()
        self.sent.append(text)
        return type("Message", (), {"message_id": len(self.sent)})()


async def test_with_the_limiter_a_message_that_went_out_is_no_longer_given_back(
    engine: Engine,
) -> None:
    runtime = Runtime(engine, FixedClock(T0))
    bot = LimitedBot()
    runtime.bot = bot  # type: ignore[assignment]
    runtime.limiter_reports_requests = True
    await runtime.run(lambda session, now: [Send(ToChat(11), HELLO)])
    await runtime.settled()
    assert bot.sent == [render(HELLO)]
    await runtime.stop(grace=0.05)
    with Session(engine) as session:
        assert [row.state for row in session.exec(select(Outbox))] == ["sent"]


def test_a_pressed_message_is_edited_in_its_own_chat_with_its_new_buttons(
    session: Session,
) -> None:
    again = buttons.button(HELLO, "pz", 7, "ok")
    committed = persist(
        session,
        [EditOrigin(body=HELLO, buttons=keyboard([again])), EditOrigin(buttons=())],
        T0,
        claim=True,
        origin=(-1001, 42),
    )
    text_edit, markup_edit = committed.rows
    assert (text_edit.chat_id, text_edit.message_id, text_edit.kind) == (-1001, 42, "edit_text")
    assert text_edit.body == render(HELLO)
    assert json.loads(text_edit.markup or "") == {
        "inline_keyboard": [[{"text": render(HELLO), "callback_data": again.data}]]
    }
    assert (markup_edit.kind, markup_edit.body, markup_edit.markup) == ("edit_markup", "", None)
