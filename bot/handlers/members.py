"""Who is in the group: refreshed when someone joins or leaves (and at /start).

Service messages about members reach a bot in privacy mode; `chat_member` updates only
when it is an administrator. Either way Mend asks Telegram for the count
(getChatMemberCount) and keeps it on the couple; the rule is in flows/members.py.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Bot, Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler, ChatMemberHandler, MessageHandler, filters

from bot.shell import Context, runtime_of
from flows import members

log = logging.getLogger(__name__)


async def member_count(bot: Bot, chat_id: int) -> int | None:
    """Telegram's count for a group (the bot included), or None when it cannot say."""
    try:
        return await bot.get_chat_member_count(chat_id)
    except TelegramError as exc:
        log.info("could not count a group's members: %s", type(exc).__name__)
        return None


async def on_members_changed(update: Update, context: Context) -> None:
    """Someone joined or left the group."""
    chat = update.effective_chat
    if chat is None or chat.type not in {"group", "supergroup"}:
        return
    count = await member_count(context.bot, chat.id)
    await runtime_of(context).run(lambda s, now: members.record_members(s, chat.id, count, now))


def handlers() -> list[BaseHandler[Update, Any, Any]]:
    joined_or_left = filters.StatusUpdate.NEW_CHAT_MEMBERS | filters.StatusUpdate.LEFT_CHAT_MEMBER
    return [
        MessageHandler(joined_or_left, on_members_changed),
        ChatMemberHandler(on_members_changed, ChatMemberHandler.CHAT_MEMBER),
    ]
