"""Onboarding in Telegram: the bot added or removed, a group migrated, /start.

Onboarding's other commands (time zones, settings, help, leave) are plain ones, listed
in `flows/onboarding/flow.py` FEATURE."""

from __future__ import annotations

from typing import Any

from telegram import ChatMemberUpdated, Update
from telegram.ext import BaseHandler, ChatMemberHandler, CommandHandler, MessageHandler, filters

from bot.handlers.members import member_count
from bot.shell import Context, actor_of, answer, runtime_of
from bot.texts import normalize
from flows import members, onboarding


async def on_bot_membership(update: Update, context: Context) -> None:
    """The bot was added to a group (welcome) or removed (its timers wait)."""
    change: ChatMemberUpdated | None = update.my_chat_member
    if change is None or change.chat.type not in {"group", "supergroup"}:
        return
    chat, status = change.chat, change.new_chat_member.status
    zone = context.bot_data.policy.default_timezone
    language = normalize(change.from_user.language_code if change.from_user else None)
    await runtime_of(context).run(
        lambda s, now: onboarding.bot_membership(
            s, chat.id, chat.title or "", status, zone, now, language
        )
    )
    if status in {"member", "administrator"}:
        count = await member_count(context.bot, chat.id)
        await runtime_of(context).run(lambda s, now: members.record_members(s, chat.id, count, now))


async def on_migration(update: Update, context: Context) -> None:
    """A group upgraded to a supergroup keeps its couple under the new id."""
    message = update.effective_message
    if message is None or message.migrate_to_chat_id is None:
        return
    old, new = message.chat_id, message.migrate_to_chat_id
    await runtime_of(context).run(lambda s, now: onboarding.migrate_chat(s, old, new))


async def on_start(update: Update, context: Context) -> None:
    """/start: the invitation in a group; linking the private chat in private."""
    actor = actor_of(update)
    if actor is None:
        return
    args = " ".join(context.args or [])
    zone = context.bot_data.policy.default_timezone
    count = None if actor.in_private else await member_count(context.bot, actor.chat_id)
    await answer(update, context, lambda s, now: members.start(s, actor, args, zone, now, count))


def handlers() -> list[BaseHandler[Update, Any, Any]]:
    return [
        ChatMemberHandler(on_bot_membership, ChatMemberHandler.MY_CHAT_MEMBER),
        MessageHandler(filters.StatusUpdate.MIGRATE, on_migration),
        CommandHandler("start", on_start),
    ]
