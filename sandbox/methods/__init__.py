"""The Bot API methods the bot calls, each a function ``(world, params) -> result``.

A method checks its parameters as Telegram does (an :class:`~sandbox.params.ApiError`
if they are wrong) and then acts on the :class:`~sandbox.world.World`.  The update
methods (getUpdates, setWebhook, deleteWebhook, getWebhookInfo) are not here: they
are how updates leave the world, so they live with the transport.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.methods import admin, messages
from sandbox.params import Params
from sandbox.world import World

Method = Callable[[World, Params], Any]

METHODS: dict[str, Method] = {
    "getMe": admin.get_me,
    "sendMessage": messages.send_message,
    "editMessageText": messages.edit_message_text,
    "editMessageReplyMarkup": messages.edit_message_reply_markup,
    "deleteMessage": messages.delete_message,
    "answerCallbackQuery": messages.answer_callback_query,
    "sendDocument": messages.send_document,
    "sendChatAction": messages.send_chat_action,
    "getFile": messages.get_file,
    "setMyCommands": admin.set_my_commands,
    "deleteMyCommands": admin.delete_my_commands,
    "getMyCommands": admin.get_my_commands,
    "setMyDescription": admin.set_my_description,
    "getMyDescription": admin.get_my_description,
    "setMyShortDescription": admin.set_my_short_description,
    "getMyShortDescription": admin.get_my_short_description,
    "getChatMember": admin.get_chat_member,
    "getChatMemberCount": admin.get_chat_member_count,
    "getChat": admin.get_chat,
    "leaveChat": admin.leave_chat,
    "close": admin.true,
    "logOut": admin.true,
}

__all__ = ["METHODS", "Method"]
