"""The checks Telegram makes before a method acts: which chat, may the bot write there,
is the text well formed and not too long, is the keyboard valid, does the reply exist."""

from __future__ import annotations

import re
from typing import Any

from sandbox.entities import EntityParseError, parse_html, utf16_len
from sandbox.model import JSON, Keyboard, SimChat, SimMessage
from sandbox.params import ApiError, Params, bad, malformed
from sandbox.world import World

MAX_TEXT = 4096
MAX_CAPTION = 1024


def lookup_chat(world: World, chat_ref: int | str) -> SimChat:
    if isinstance(chat_ref, str):  # @username: simulated groups have no public username
        raise bad("chat not found")
    chat = world.chats.get(chat_ref)
    if chat is None:
        user = world.users.get(chat_ref)
        if user is None:
            raise bad("chat not found")
        chat = world.private_chat(user)
    return chat


def check_migrated(chat: SimChat) -> None:
    if chat.migrated_to is not None:
        raise ApiError(
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            {"migrate_to_chat_id": chat.migrated_to},
        )


def writable_chat(world: World, chat_ref: int | str) -> SimChat:
    """The chat for a send, or the error Telegram gives for sending there."""
    chat = lookup_chat(world, chat_ref)
    check_migrated(chat)
    if chat.is_group:
        kind = "supergroup" if chat.type == "supergroup" else "group"
        if chat.bot_status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
        if chat.bot_status != "member":
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")
    else:
        assert chat.user is not None
        if chat.user.blocked_bot:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if world.require_start and not chat.started:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
    return chat


def existing_chat(world: World, chat_ref: int | str) -> SimChat:
    chat = lookup_chat(world, chat_ref)
    check_migrated(chat)
    return chat


def find_message(world: World, chat: SimChat, message_id: int | None) -> SimMessage | None:
    if message_id is None:
        return None
    msg = world.message(chat, message_id)
    return None if msg is None or msg.deleted else msg


def format_text(
    text: str,
    parse_mode: str | None,
    entities: Any,
    *,
    limit: int,
    too_long: str,
    empty: str,
) -> tuple[str, list[JSON]]:
    parsed_entities: list[JSON] = []
    if parse_mode:
        mode = parse_mode.lower()
        if mode == "html":
            try:
                text, parsed_entities = parse_html(text)
            except EntityParseError as exc:
                raise malformed(f"can't parse entities: {exc}") from None
        elif mode not in {"markdown", "markdownv2"}:
            raise malformed(f"unsupported parse_mode {parse_mode}")
    elif entities is not None:
        if not isinstance(entities, list):
            raise malformed("can't parse entities JSON object")
        parsed_entities = [dict(e) for e in entities]
    if not text.strip():
        raise malformed(empty)
    if utf16_len(text) > limit:
        raise malformed(too_long)
    return text, parsed_entities


def inline_keyboard(markup: Any) -> Keyboard:
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise malformed("can't parse inline keyboard button: InlineKeyboardMarkup expected")
    count = 0
    keyboard: Keyboard = []
    for row in rows:
        new_row = []
        for button in row:
            count += 1
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise malformed("can't parse inline keyboard button: Text must be String")
            actions = [k for k in button if k != "text"]
            if not actions:
                raise malformed(
                    "can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode()) <= 64:
                    raise malformed("BUTTON_DATA_INVALID")
            if "url" in button and not re.match(r"(https?|tg)://\S+$", str(button["url"])):
                raise malformed("BUTTON_URL_INVALID")
            new_row.append(dict(button))
        keyboard.append(new_row)
    if count > 100:
        raise malformed("reply markup is too long")
    return keyboard


def reply_markup(params: Params) -> tuple[Keyboard | None, JSON | None]:
    markup = params.get_json("reply_markup")
    if markup is None:
        return None, None
    if not isinstance(markup, dict):
        raise malformed("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        return inline_keyboard(markup), None
    if markup.get("force_reply") is True or markup.get("remove_keyboard") is True:
        return None, markup
    if isinstance(markup.get("keyboard"), list):
        return None, markup
    raise malformed("can't parse reply keyboard markup JSON object")


def reply_target(world: World, chat: SimChat, params: Params) -> SimMessage | None:
    reply_parameters = params.get_json("reply_parameters")
    message_id: int | None = None
    allow_missing = bool(params.get_bool("allow_sending_without_reply"))
    target_chat = chat
    if reply_parameters is not None:
        if not isinstance(reply_parameters, dict) or "message_id" not in reply_parameters:
            raise malformed("can't parse reply parameters JSON object")
        message_id = int(reply_parameters["message_id"])
        allow_missing = bool(reply_parameters.get("allow_sending_without_reply"))
        if reply_parameters.get("chat_id") not in (None, chat.id):
            target_chat = lookup_chat(world, reply_parameters["chat_id"])
    else:
        message_id = params.get_int("reply_to_message_id")
    if message_id is None:
        return None
    target = find_message(world, target_chat, message_id)
    if target is None and not allow_missing:
        raise bad("message to be replied not found")
    return target
