"""Turning Telegram updates into flow calls, and carrying out what comes back.

Every handler here does the same three things: work out who acted and where
(`Actor`), run one flow in one transaction through the engine, and show the
immediate answers (button notices, files); edits of a pressed message are outbox
rows. Rules live in `flows/`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlmodel import Session
from telegram import InputFile, Message, Update
from telegram.error import TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.delivery.chats import couple_of_message, latest_question, tag_of_message
from bot.delivery.outbox import Committed
from bot.runtime import Runtime
from bot.shared import Context
from bot.texts import normalize, render
from flows import buttons, choosing, inputs
from flows.couples import Actor, language_of_user
from flows.outcome import Effects, SendFile, Text

log = logging.getLogger(__name__)

CommandFlow = Callable[[Session, Actor, str, datetime], Effects]


def runtime_of(context: Context) -> Runtime:
    return context.bot_data.runtime


def actor_of(update: Update) -> Actor | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or user.is_bot:
        return None
    return Actor(
        user_id=user.id,
        first_name=(user.first_name or user.username or "")[:64],
        chat_id=chat.id,
        chat_type=chat.type,
        chat_title=(chat.title or "")[:128],
        language=normalize(user.language_code),
    )


def replied_to_bot(update: Update) -> Message | None:
    """The bot's own message this update replies to, if it replies to one."""
    message = update.effective_message
    replied = message.reply_to_message if message is not None else None
    if replied is None or replied.from_user is None or not replied.from_user.is_bot:
        return None
    return replied


def knowing_reply(session: Session, actor: Actor, update: Update) -> Actor:
    """The actor, with the couple of the bot's message they replied to (in a private chat
    that serves two couples, a reply settles which one a command means)."""
    replied = replied_to_bot(update)
    if replied is None:
        return actor
    couple_id = couple_of_message(session, replied.chat_id, replied.message_id)
    return replace(actor, replied_to_couple=couple_id)


def command(name: str, flow: CommandFlow) -> BaseHandler[Update, Any, Any]:
    """A /command whose arguments (the rest of the line) go to `flow` as one string."""
    flow = choosing.for_couple(name, flow)

    async def callback(update: Update, context: Context) -> None:
        actor = actor_of(update)
        if actor is None:
            return
        args = " ".join(context.args or [])
        await answer(
            update, context, lambda s, now: flow(s, knowing_reply(s, actor, update), args, now)
        )

    return CommandHandler(name, callback)


async def on_button(update: Update, context: Context) -> None:
    """Every button press: validated against the database by the flow of its kind."""
    actor = actor_of(update)
    query = update.callback_query
    if actor is None or query is None:
        return
    raw = query.data
    await answer(
        update,
        context,
        lambda s, now: buttons.handle_press(s, actor, raw, now),
        origin=origin_of(update),
    )


def origin_of(update: Update) -> tuple[int, int] | None:
    """The message whose button was pressed (chat id, message id), if it can be edited."""
    query = update.callback_query
    message = query.message if query is not None else None
    if not isinstance(message, Message):
        return None
    return message.chat_id, message.message_id


async def on_text(update: Update, context: Context) -> None:
    """Private messages and replies to the bot's own messages (never ordinary chat)."""
    actor = actor_of(update)
    message = update.effective_message
    if actor is None or message is None or message.text is None:
        return
    words = message.text
    replied, anything_replied = replied_to_bot(update), message.reply_to_message is not None

    def answer_text(session: Session, now: datetime) -> Effects:
        reply_tag: str | None = None
        if replied is not None:
            reply_tag = tag_of_message(session, replied.chat_id, replied.message_id)
        elif not anything_replied and actor.in_private:
            # In private, people just type: what they write answers the latest question
            # the bot asked there, whichever feature asked it.
            reply_tag = latest_question(session, actor.chat_id)
        said = inputs.Said(text=words, reply_to_tag=reply_tag, is_reply=replied is not None)
        return inputs.handle_text(session, actor, said, now)

    # A question Telegram has shown but Mend has not marked yet is the one on screen.
    await runtime_of(context).questions_marked(actor.chat_id)
    await answer(update, context, answer_text)


async def answer(
    update: Update,
    context: Context,
    flow: Callable[[Session, datetime], Effects],
    *,
    origin: tuple[int, int] | None = None,
) -> None:
    """Run `flow` in one transaction and answer what is answered at once (`show_immediate`).

    The language of whoever acted is read in the same transaction, after the flow (which
    may have just changed it), and only when something is shown to them alone.
    """
    user = update.effective_user
    own = normalize(user.language_code if user is not None else None)
    spoken = [own]

    def transaction(session: Session, now: datetime) -> Effects:
        effects = flow(session, now)
        shows = update.callback_query is not None or any(
            isinstance(effect, SendFile) for effect in effects
        )
        if user is not None and shows:
            spoken[0] = language_of_user(session, user.id) or own
        return effects

    committed = await runtime_of(context).run(transaction, origin=origin)
    await show_immediate(update, context, committed, spoken[0])


async def show_immediate(
    update: Update, context: Context, committed: Committed, language: str
) -> None:
    """What is answered straight away, in `language`: the button press, then files.

    The press is answered first, right after the flow's transaction: answerCallbackQuery
    carries no chat id, so the rate limiter puts it in no group's bucket, and nothing
    else this chat sends (messages, the edit of the pressed message: outbox rows) waits
    in front of it.
    """
    effects = committed.effects
    query = update.callback_query
    if query is not None:
        notices = Runtime.notices(effects)
        try:
            if notices:
                await query.answer(render(notices[0].body, language), show_alert=notices[0].alert)
            else:
                await query.answer()
        except TelegramError as exc:
            log.info("could not answer a button press: %s", type(exc).__name__)
    for upload in Runtime.files(effects):
        await _send_file(update, context, upload, language)


async def _send_file(update: Update, context: Context, upload: SendFile, language: str) -> None:
    """The document first; then, where the command came from, that it arrived (or not)."""
    chat = update.effective_chat
    try:
        await context.bot.send_document(
            upload.user_id,
            InputFile(upload.content, filename=upload.filename),
            caption=render(upload.caption, language),
        )
        note = upload.sent_note
    except TelegramError as exc:
        log.warning("could not send a file to a private chat: %s", type(exc).__name__)
        note = Text("common.file_failed")
    if note is None or chat is None:
        return
    try:
        await context.bot.send_message(chat.id, render(note, language))
    except TelegramError as exc:
        log.info("could not say whether a file arrived: %s", type(exc).__name__)


def text_handlers() -> list[BaseHandler[Update, Any, Any]]:
    """Shared handlers: buttons, answers by text."""
    answers = filters.TEXT & ~filters.COMMAND & (filters.ChatType.PRIVATE | filters.REPLY)
    return [
        CallbackQueryHandler(on_button),
        MessageHandler(answers, on_text),
    ]
