"""The floor: a bare python-telegram-bot bot that replies to every message and answers every
button press, with nothing else (no database, no rate limiter).

Run like Mend (`BOT_TOKEN`, `TELEGRAM_API_URL`): `python -m bench.echo_bot`. It polls the
same way `python -m bot` does, so the two differ only in what they do per update.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackContext, CallbackQueryHandler, MessageHandler, filters

Ctx = CallbackContext[Any, Any, Any, Any]


async def echo(update: Update, context: Ctx) -> None:
    message = update.effective_message
    if message is not None and message.text:
        await context.bot.send_message(message.chat_id, message.text)


async def answer(update: Update, context: Ctx) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer("ok")


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    api = os.environ.get("TELEGRAM_API_URL", "https://api.telegram.org").rstrip("/")
    application = (
        Application.builder()
        .token(os.environ["BOT_TOKEN"])
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.add_handler(CallbackQueryHandler(answer))
    application.run_polling(
        allowed_updates=["message", "callback_query", "my_chat_member"],
        poll_interval=0.0,
        timeout=10,
    )


if __name__ == "__main__":
    main()
