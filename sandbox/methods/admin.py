"""The bot's own settings (getMe, commands, descriptions) and the chats it is in
(getChat, getChatMember, getChatMemberCount, leaveChat)."""

from __future__ import annotations

import re

from sandbox.methods.checks import existing_chat
from sandbox.model import JSON, chat_member, scope_key
from sandbox.params import ApiError, Params, bad, malformed
from sandbox.world import World


def true(world: World, params: Params) -> bool:
    """close and logOut: there is no session to end here, so Telegram's True is all."""
    return True


def get_me(world: World, params: Params) -> JSON:
    return {
        **world.bot.to_api(),
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def command_key(params: Params) -> tuple[str, str]:
    scope = params.get_json("scope")
    if scope is not None and (not isinstance(scope, dict) or "type" not in scope):
        raise malformed("can't parse BotCommandScope JSON object")
    return scope_key(scope), params.get_str("language_code") or ""


def set_my_commands(world: World, params: Params) -> bool:
    commands = params.get_json("commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise malformed("can't parse commands JSON object")
    clean: list[JSON] = []
    for cmd in commands:
        if not isinstance(cmd, dict):
            raise malformed("can't parse commands JSON object")
        name, description = cmd.get("command"), cmd.get("description")
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,32}", name):
            raise malformed("BOT_COMMAND_INVALID")
        if not isinstance(description, str) or not 1 <= len(description) <= 256:
            raise malformed("BOT_COMMAND_DESCRIPTION_INVALID")
        clean.append({"command": name, "description": description})
    key, lang = command_key(params)
    if lang:
        world.localized_commands[(key, lang)] = clean
    else:
        world.commands[key] = clean
    return True


def delete_my_commands(world: World, params: Params) -> bool:
    key, lang = command_key(params)
    if lang:
        world.localized_commands.pop((key, lang), None)
    else:
        world.commands.pop(key, None)
    return True


def get_my_commands(world: World, params: Params) -> list[JSON]:
    key, lang = command_key(params)
    if lang:
        return world.localized_commands.get((key, lang), [])
    return world.commands.get(key, [])


def set_text(params: Params, field: str, limit: int, store: dict[str, str]) -> bool:
    """Telegram's rule: 0..limit characters; an empty one removes that language's text."""
    value = params.get_str(field) or ""
    if len(value) > limit:
        raise bad(f"{field} is too long")
    lang = params.get_str("language_code") or ""
    if value:
        store[lang] = value
    else:
        store.pop(lang, None)
    return True


def set_my_description(world: World, params: Params) -> bool:
    return set_text(params, "description", 512, world.descriptions)


def get_my_description(world: World, params: Params) -> JSON:
    lang = params.get_str("language_code") or ""
    return {"description": world.descriptions.get(lang, world.descriptions.get("", ""))}


def set_my_short_description(world: World, params: Params) -> bool:
    return set_text(params, "short_description", 120, world.short_descriptions)


def get_my_short_description(world: World, params: Params) -> JSON:
    lang = params.get_str("language_code") or ""
    return {
        "short_description": world.short_descriptions.get(
            lang, world.short_descriptions.get("", "")
        )
    }


def get_chat(world: World, params: Params) -> JSON:
    return existing_chat(world, params.chat_id()).to_full_info()


def get_chat_member(world: World, params: Params) -> JSON:
    chat = existing_chat(world, params.chat_id())
    user_id = params.get_int("user_id")
    if user_id == world.bot.id:
        status = "member" if chat.type == "private" else chat.bot_status
        return chat_member(chat, world.bot, status)
    user = world.users.get(user_id or 0)
    if user is None:
        raise bad("user not found")
    if chat.type == "private":
        if chat.user is not user:
            raise bad("user not found")
        return chat_member(chat, user, "member")
    if user.id == chat.creator_id and user.id in chat.members:
        return chat_member(chat, user, "creator")
    return chat_member(chat, user, "member" if user.id in chat.members else "left")


def get_chat_member_count(world: World, params: Params) -> int:
    """Like Telegram: every member, bots included (this bot while it is in the group)."""
    chat = existing_chat(world, params.chat_id())
    if chat.type == "private":
        return 2
    return len(chat.members) + (1 if chat.bot_status in {"member", "administrator"} else 0)


def leave_chat(world: World, params: Params) -> bool:
    chat = existing_chat(world, params.chat_id())
    if chat.type == "private":
        raise bad("chat member status can't be changed in private chats")
    if chat.bot_status != "member":
        raise ApiError(403, "Forbidden: bot is not a member of the group chat")
    chat.bot_status = "left"
    world.queue_my_chat_member(chat, world.bot, "member", "left")
    return True
