"""Fixtures for the sandbox's own tests: a sandbox and a tiny PTB bot polling it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from sandbox import BotApiSandbox
from sandbox.testing import TEST_TOKEN, running_sandbox


@dataclass
class EchoBot:
    app: Application[Any, Any, Any, Any, Any, Any]
    updates: list[Update] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    @property
    def bot(self) -> Bot:
        return self.app.bot


def make_bot(sb: BotApiSandbox) -> Bot:
    return Bot(TEST_TOKEN, base_url=f"{sb.url}/bot", base_file_url=f"{sb.url}/file/bot")


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton("Yes 👍", callback_data="yes"),
          InlineKeyboardButton("No", callback_data="no")]]
    )  # fmt: skip
    await update.effective_message.reply_text(
        "Welcome to <b>Mend</b> &amp; friends", parse_mode="HTML", reply_markup=keyboard
    )


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(f"echo: {update.effective_message.text}")


async def _button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer(f"got {query.data}")
    await query.edit_message_text(f"You chose {query.data}")


@pytest.fixture
async def sb() -> AsyncIterator[BotApiSandbox]:
    async with running_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
async def echo_bot(sb: BotApiSandbox) -> AsyncIterator[EchoBot]:
    app = (
        Application.builder()
        .token(TEST_TOKEN)
        .base_url(f"{sb.url}/bot")
        .base_file_url(f"{sb.url}/file/bot")
        .build()
    )
    echo = EchoBot(app)

    async def record(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        echo.updates.append(update)

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.error is not None
        echo.errors.append(context.error)

    app.add_handler(TypeHandler(Update, record), group=-1)
    app.add_handler(CommandHandler("start", _start))
    app.add_handler(CallbackQueryHandler(_button))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, _echo))
    app.add_error_handler(on_error)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        yield echo
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    assert not echo.errors, echo.errors
