"""Promises in Telegram: /promise and the "when?" buttons (/promises and /drop are plain
commands, listed in `flows/promises/flow.py` FEATURE).

The promise cap comes from the PROMISE_CAP setting (`Policy.promise_cap`); the two
places that can create a promise, /promise and the "when?" buttons, pass it to the flow.
Every other promise button goes through the shared button handler.
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.shell import Context, actor_of, answer, knowing_reply, origin_of
from flows import buttons, choosing, promises


def _cap(context: Context) -> int:
    return context.bot_data.policy.promise_cap


async def on_promise(update: Update, context: Context) -> None:
    """/promise <what> [when]: made at once, or "when?" buttons when the time is missing."""
    actor = actor_of(update)
    if actor is None:
        return
    args, cap = " ".join(context.args or []), _cap(context)
    flow = choosing.for_couple(
        "promise", lambda s, a, words, now: promises.make_promise(s, a, words, now, cap=cap)
    )
    await answer(
        update, context, lambda s, now: flow(s, knowing_reply(s, actor, update), args, now)
    )


async def on_when(update: Update, context: Context) -> None:
    """A "when?" button: turns a draft into a promise (within the cap) or reschedules one."""
    actor = actor_of(update)
    query = update.callback_query
    if actor is None or query is None:
        return
    press, cap = buttons.parse(query.data), _cap(context)
    await answer(
        update,
        context,
        lambda s, now: (
            promises.press_when(s, actor, press, now, cap=cap)
            if press is not None
            else buttons.expired()
        ),
        origin=origin_of(update),
    )


def handlers() -> list[BaseHandler[Update, Any, Any]]:
    return [
        CommandHandler("promise", on_promise),
        CallbackQueryHandler(on_when, pattern=rf"^{buttons.VERSION}\|{promises.WHEN}\|"),
    ]
