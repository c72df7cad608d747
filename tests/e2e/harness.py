"""End-to-end harness: the real `python -m bot` process against the local Bot API server.

A test gets a `Scene`: the sandbox (Telegram), the bot process, two partners (Ana and
Ben), a stranger (Cleo) and their group. Time inside the bot moves through its clock
file (`scene.advance(...)`), so a one-hour pause takes a second to test.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bot.clock import OffsetFileClock
from bot.config import Settings
from sandbox import BotApiSandbox, SimChat, SimMessage, SimUser
from sandbox.testing import TEST_TOKEN

REPO = Path(__file__).resolve().parents[2]
# Whatever Mend reads from its environment, by name and by family.
SETTINGS = frozenset(Settings.model_fields)
CLEARED_PREFIXES = (
    "BOT_",
    "DATABASE_",
    "WEBHOOK_",
    "DATA_KEY",
    "MEND_",
    "TELEGRAM_",
    "DEFAULT_TIMEZONE",
    "PROMISE_CAP",
    "LOG_LEVEL",
)


class BotProcess:
    """One `python -m bot` subprocess, its log file and its clock."""

    def __init__(
        self, sandbox: BotApiSandbox, database_url: str, workdir: Path, **extra_env: str
    ) -> None:
        self.sandbox = sandbox
        self.database_url = database_url
        self.workdir = workdir
        self.clock = OffsetFileClock(workdir / "clock")
        self.log_path = workdir / "bot.log"
        self.extra_env = extra_env
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def env(self) -> dict[str, str]:
        """Production settings in a clean environment; a test that needs a knob passes it.

        Every setting Mend reads is cleared (a developer's DEFAULT_TIMEZONE or PROMISE_CAP
        must not change what a test sees), and the bot runs in the test's own directory, so
        no `.env` is read either. What stays is what production has: a 30 s sweep and the
        rate limiter on. Time still moves through the clock file: the bot re-arms its wake-up
        job when the file changes (`Wakeups._follow_clock`), so timers fire from the real
        wake-up path, not from a sweep made fast for tests.
        """
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in SETTINGS and not key.startswith(CLEARED_PREFIXES)
        }
        env.update(
            BOT_TOKEN=TEST_TOKEN,
            TELEGRAM_API_URL=self.sandbox.url,
            DATABASE_URL=self.database_url,
            MEND_CLOCK_FILE=str(self.clock.path),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    async def start(self, timeout: float = 60.0) -> None:
        """Start the bot and wait until it polls for updates (or has set its webhook).

        60 s: the start-up sweep fires what fell due first, and the suite runs six workers
        on two cores; a healthy start takes one or two seconds."""
        ready_call = "setWebhook" if "WEBHOOK_URL" in self.extra_env else "getUpdates"
        polls_before = self.sandbox.calls[ready_call]
        ready_marker = f"Mend is ready (start {self.starts + 1})"
        with self.log_path.open("ab") as log:
            log.write(f"--- {ready_marker}\n".encode())
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot"],
                cwd=self.workdir,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        loop = asyncio.get_running_loop()
        if ready_call == "setWebhook":
            # PTB sets the webhook before its HTTP server listens; give it a moment.
            await asyncio.sleep(0)
        deadline = loop.time() + timeout
        while self.sandbox.calls[ready_call] <= polls_before:
            if self.process.poll() is not None:
                raise RuntimeError(f"bot exited with {self.process.returncode}:\n{self.logs()}")
            if loop.time() > deadline:
                raise TimeoutError(f"bot did not start polling:\n{self.logs()}")
            await asyncio.sleep(0.05)

    async def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait: a clean shutdown."""
        return await self._end(signal.SIGTERM, timeout)

    async def kill(self) -> int:
        """SIGKILL: the process dies wherever it is."""
        return await self._end(signal.SIGKILL, 10.0)

    async def _end(self, sig: signal.Signals, timeout: float) -> int:
        process = self.process
        if process is None or process.poll() is not None:
            return process.returncode if process else 0
        process.send_signal(sig)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while process.poll() is None:
            if loop.time() > deadline:
                process.kill()
                raise TimeoutError(f"bot did not stop on {sig.name}:\n{self.logs()}")
            await asyncio.sleep(0.05)
        return process.returncode

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)

    async def settled(self, timeout: float = 30.0) -> None:
        """Wait until the database holds no work: no timer due or claimed, no message waiting.

        What a test counts after this is final, where a fixed sleep could only hope so.
        """
        from sqlalchemy import or_
        from sqlmodel import Session, col, func, select

        from bot.db import make_engine
        from bot.delivery.models import Outbox, Timer

        engine = make_engine(self.database_url)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                now = self.clock.now()
                with Session(engine) as session:
                    timers = session.exec(
                        select(func.count())
                        .select_from(Timer)
                        .where(
                            or_(
                                col(Timer.state) == "claimed",
                                (col(Timer.state) == "pending") & (col(Timer.due_at) <= now),
                            )
                        )
                    ).one()
                    waiting = session.exec(
                        select(func.count())
                        .select_from(Outbox)
                        .where(col(Outbox.state).in_(["pending", "sending"]))
                    ).one()
                if timers == 0 and waiting == 0:
                    return
                if loop.time() > deadline:
                    raise TimeoutError(f"still {timers} timers and {waiting} messages to go")
                await asyncio.sleep(0.1)
        finally:
            engine.dispose()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Scene:
    """Telegram, the bot, two partners, a stranger and their group."""

    sandbox: BotApiSandbox
    bot: BotProcess
    ana: SimUser
    ben: SimUser
    cleo: SimUser
    group: SimChat
    transcript: list[str] = field(default_factory=list)

    def private(self, user: SimUser) -> SimChat:
        return self.sandbox.private_chat(user)

    def advance(self, delta: timedelta) -> None:
        self.bot.advance(delta)

    def last_id(self, chat: SimChat) -> int:
        messages = self.sandbox.messages(chat)
        return messages[-1].message_id if messages else 0

    async def say(
        self, user: SimUser, chat: SimChat, text: str, reply_to: SimMessage | None = None
    ) -> SimMessage:
        self.transcript.append(f"[{_where(chat)}] {user.first_name}: {text}")
        return await self.sandbox.user_sends(user, chat, text, reply_to=reply_to)

    async def expect(
        self,
        chat: SimChat,
        contains: str | Callable[[SimMessage], bool],
        *,
        after: int | SimMessage | None = 0,
        timeout: float = 45.0,
    ) -> SimMessage:
        """Wait for the bot to write something in `chat` (after message id `after`).

        45 s, not less: the limiter is on, as in production, and a group that just got a
        burst of messages (forming the couple, the time-zone question) is held to 20 a
        minute, so the next group message may legitimately wait tens of seconds."""

        def predicate(message: SimMessage) -> bool:
            if callable(contains):
                return contains(message)
            return contains in (message.text or message.caption or "")

        message = await self.sandbox.wait_for_message(chat, predicate, timeout, after=after)
        shown = message.text or message.caption or f"<{message.document and 'document'}>"
        buttons = " ".join(f"[{b.get('text')}]" for b in message.buttons)
        self.transcript.append(f"[{_where(chat)}] Mend: {shown} {buttons}".rstrip())
        return message

    async def press(self, user: SimUser, message: SimMessage, label: str) -> dict[str, object]:
        """Press the button whose label contains `label`; returns the bot's answer."""
        data = self.sandbox.button(message, label)
        self.transcript.append(f"[{_where(message.chat)}] {user.first_name} taps [{label}]")
        query_id = await self.sandbox.user_presses(user, message, data)
        answer = await self.sandbox.wait_for_callback_answer(query_id)
        if answer.get("text"):
            self.transcript.append(f"  (to {user.first_name} only: {answer['text']})")
        return answer

    async def press_data(self, user: SimUser, message: SimMessage, data: str) -> dict[str, object]:
        """Press a button with arbitrary (possibly forged) data."""
        query_id = await self.sandbox.user_presses(user, message, data)
        return await self.sandbox.wait_for_callback_answer(query_id)


def _where(chat: SimChat) -> str:
    if chat.type == "private":
        return f"private {chat.user.first_name if chat.user else chat.id}"
    return chat.title or str(chat.id)


@asynccontextmanager
async def scene(database_url: str, workdir: Path, **extra_env: str) -> AsyncIterator[Scene]:
    """A running sandbox and bot process; both are stopped afterwards."""
    sandbox = BotApiSandbox()
    await sandbox.start()
    bot = BotProcess(sandbox, database_url, workdir, **extra_env)
    ana = sandbox.add_user("Ana", "ana")
    ben = sandbox.add_user("Ben", "ben")
    cleo = sandbox.add_user("Cleo", "cleo")
    # Cleo is not in the couple's group unless a test has her join (sandbox.join_group):
    # with her there, Mend keeps private things out of the group.
    group = sandbox.create_group("Ana & Ben", [ana, ben])
    try:
        await bot.start()
        yield Scene(sandbox, bot, ana, ben, cleo, group)
    finally:
        await bot.stop()
        await sandbox.stop()
    assert not sandbox.violations, f"Bot API violations: {sandbox.violations}"


async def form_couple(scene: Scene, *, open_private: bool = True) -> None:
    """Bot added, /start, both tap "I'm in", and (by default) both open the private chat."""
    sandbox, group = scene.sandbox, scene.group
    sandbox.add_bot_to_group(group, by=scene.ana)
    await scene.expect(group, "I'm Mend")
    mark = scene.last_id(group)
    await scene.say(scene.ana, group, "/start")
    invite = await scene.expect(group, "I'm in", after=mark)
    await scene.press(scene.ana, invite, "I'm in")
    await scene.expect(group, "Ana is in", after=mark)
    await scene.press(scene.ben, invite, "I'm in")
    formed = await scene.expect(group, "you're set up", after=mark)
    if open_private:
        link = next(b["url"] for b in formed.buttons if "url" in b)
        payload = str(link).split("start=", 1)[1]
        for user in (scene.ana, scene.ben):
            chat = scene.private(user)
            await scene.say(user, chat, f"/start {payload}")
            await scene.expect(chat, "connected")


def seed_couples(
    database_url: str, groups: list[SimChat], *, reminders_each: int, due: datetime
) -> list[int]:
    """Formed couples for `groups` (straight into the database), each with due reminders.

    The reminder to open the private chat is a real timer kind; partners here have not
    opened it, so each reminder sends one message to its group.
    """
    from bot.db import make_engine, session_scope
    from bot.delivery.outbox import persist
    from flows.models import Couple, Partner
    from flows.onboarding import INVITE_REMINDER
    from flows.outcome import SetTimer

    engine = make_engine(database_url)
    ids: list[int] = []
    with session_scope(engine) as session:
        for index, group in enumerate(groups):
            group.bot_status = "member"
            couple = Couple(
                group_chat_id=group.id, title=group.title or "", created_at=due, formed_at=due
            )
            session.add(couple)
            session.flush()
            for name, user_id in (("Ana", 10_000_000 + 2 * index), ("Ben", 10_000_001 + 2 * index)):
                session.add(
                    Partner(
                        couple_id=couple.id or 0,
                        user_id=user_id,
                        first_name=name,
                        joined_at=due,
                        last_active_at=due,
                    )
                )
            persist(
                session,
                [SetTimer(INVITE_REMINDER, couple.id or 0, due) for _ in range(reminders_each)],
                due,
                claim=False,
            )
            ids.append(couple.id or 0)
    engine.dispose()
    return ids
