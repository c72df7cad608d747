"""The application as `python -m bot` builds it: what production runs with, checked on the object.

Flow tests pass their own constants and end-to-end tests can only see what the sandbox shows;
these read the wiring itself: the rate limiter, the wake-up alarm, which updates reach a handler,
and the settings' defaults against what the README promises.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from telegram import Update
from telegram.ext import AIORateLimiter, Application

from bot import shell
from bot.app import build_application
from bot.clock import FixedClock
from bot.config import Settings
from bot.db import session_scope
from bot.delivery.models import Outbox
from bot.shared import shared
from flows import onboarding, promises
from flows.outcome import SetTimer
from flows.policy import Policy
from sandbox.testing import TEST_TOKEN
from tests.helpers import ANA_ID, GROUP_ID, T0, make_couple

README = Path(__file__).resolve().parents[2] / "README.md"
BOT_ID = 999


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """Settings as production reads them with only BOT_TOKEN set (no .env, no other variable)."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOT_TOKEN", TEST_TOKEN)
    return Settings()


@pytest.fixture
def app(production: Settings, engine: Engine) -> Application[Any, Any, Any, Any, Any, Any]:
    return build_application(production, engine, FixedClock(T0))


def _documented_defaults() -> dict[str, str]:
    """`| \\`NAME\\` | \\`default\\` | ...` rows of the README's configuration table."""
    rows = re.findall(r"^\| `([A-Z_]+)` \| `([^`]*)` \|", README.read_text(), flags=re.M)
    return dict(rows)


def test_settings_defaults_are_the_ones_the_readme_documents(production: Settings) -> None:
    documented = _documented_defaults()
    assert {"DATABASE_URL", "DEFAULT_TIMEZONE", "LOG_LEVEL", "PROMISE_CAP"} <= set(documented)
    for name, default in documented.items():
        value = getattr(production, name)
        assert str(value) == default, name
    assert production.PROMISE_CAP == promises.DEFAULT_CAP == 3
    # The knobs for tests are off in production: a 30 s sweep, the limiter on.
    assert production.MEND_SWEEP_SECONDS == 30 and production.MEND_RATE_LIMIT is True
    assert production.MEND_CLOCK_FILE is None and production.MEND_CLAIM_TIMEOUT_SECONDS is None


def test_the_built_bot_uses_the_configured_promise_cap(
    app: Application[Any, Any, Any, Any, Any, Any],
) -> None:
    data = shared(app)
    assert data.policy == Policy(default_timezone="UTC", promise_cap=3)
    assert data.sweep_seconds == 30


def test_the_rate_limiter_is_installed_with_telegrams_group_limit(
    app: Application[Any, Any, Any, Any, Any, Any],
) -> None:
    limiter = app.bot.rate_limiter
    assert isinstance(limiter, AIORateLimiter)
    # A bucket of 10 refilled over 60 s: never more than 20 in one group in any minute.
    assert limiter._group_max_rate == 10 and limiter._group_time_period == 60
    assert limiter._base_limiter is not None and limiter._base_limiter.max_rate == 30


async def test_a_new_timer_moves_the_wake_up_alarm(
    app: Application[Any, Any, Any, Any, Any, Any], engine: Engine
) -> None:
    runtime, wakeups = shared(app).runtime, shared(app).wakeups
    with session_scope(engine) as session:
        couple, _ana, _ben = make_couple(session)
        couple_id = couple.id or 0
    due = T0 + timedelta(minutes=20)
    await runtime.run(lambda _s, _now: [SetTimer(onboarding.INVITE_REMINDER, couple_id, due)])
    assert wakeups.at == due and wakeups.job is not None


def _update(
    app: Application[Any, Any, Any, Any, Any, Any], chat: dict[str, Any], **message: Any
) -> Update:
    data = {
        "update_id": 1,
        "message": {
            "message_id": 7,
            "date": 1_700_000_000,
            "chat": chat,
            "from": {"id": 101, "is_bot": False, "first_name": "Ana"},
            **message,
        },
    }
    return Update.de_json(data, app.bot)


def _handled(app: Application[Any, Any, Any, Any, Any, Any], update: Update) -> list[str]:
    return [
        type(handler).__name__
        for group in app.handlers.values()
        for handler in group
        if handler.check_update(update) not in (None, False)
    ]


GROUP = {"id": GROUP_ID, "type": "group", "title": "Ana & Ben"}
BOT_MESSAGE = {
    "message_id": 6,
    "date": 1_699_999_999,
    "chat": GROUP,
    "text": "Kept?",
    "from": {"id": BOT_ID, "is_bot": True, "first_name": "Mend"},
}


def test_plain_group_chat_reaches_no_handler(
    app: Application[Any, Any, Any, Any, Any, Any],
) -> None:
    """Privacy mode is Telegram's promise; this is the bot's own: it does not read the couple's
    conversation even where Telegram would deliver it (an admin bot, privacy mode off)."""
    assert _handled(app, _update(app, GROUP, text="we had a fight about the dishes")) == []
    # What it does read in a group: replies to its own messages.
    replied = _update(app, GROUP, text="yes", reply_to_message=BOT_MESSAGE)
    assert _handled(app, replied) == ["MessageHandler"]
    # And anything written to it in private.
    private = {"id": 101, "type": "private", "first_name": "Ana"}
    assert _handled(app, _update(app, private, text="the dishes")) == ["MessageHandler"]


def test_a_reply_to_the_bots_message_about_a_couple_names_that_couple(
    app: Application[Any, Any, Any, Any, Any, Any], engine: Engine
) -> None:
    """In a private chat that serves two couples, replying to one couple's message settles
    which couple a command means: the shell looks the couple up before the flow runs."""
    private = {"id": ANA_ID, "type": "private", "first_name": "Ana"}
    about = {**BOT_MESSAGE, "chat": private, "message_id": 77}
    about_nobody = {**BOT_MESSAGE, "chat": private, "message_id": 78}
    with session_scope(engine) as session:
        couple, _ana, _ben = make_couple(session)
        session.add(
            Outbox(
                couple_id=couple.id,
                chat_id=ANA_ID,
                body="",
                state="sent",
                message_id=77,
                created_at=T0,
            )
        )
        session.add(
            Outbox(
                couple_id=None, chat_id=ANA_ID, body="", state="sent", message_id=78, created_at=T0
            )
        )
        session.flush()
        named = {}
        for name, replied in (("about", about), ("nobody", about_nobody), ("none", None)):
            update = _update(app, private, text="/settings", reply_to_message=replied)
            actor = shell.actor_of(update)
            assert actor is not None and actor.replied_to_couple is None
            named[name] = shell.knowing_reply(session, actor, update).replied_to_couple
    assert named == {"about": couple.id, "nobody": None, "none": None}
