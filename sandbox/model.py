"""What Telegram's objects look like: users, chats, documents, messages and their JSON.

Plain dataclasses; the world (:mod:`sandbox.world`) creates and changes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

JSON = dict[str, Any]
Keyboard = list[list[dict[str, Any]]]


@dataclass(eq=False)
class SimUser:
    id: int
    first_name: str
    username: str | None = None
    language_code: str | None = "en"
    is_bot: bool = False
    last_name: str | None = None
    blocked_bot: bool = False

    def to_api(self) -> JSON:
        data: JSON = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code and not self.is_bot:
            data["language_code"] = self.language_code
        return data


@dataclass(eq=False)
class SimChat:
    id: int
    type: str  # "private" | "group" | "supergroup"
    title: str | None = None
    user: SimUser | None = None  # the other side of a private chat
    members: dict[int, SimUser] = field(default_factory=dict)
    creator_id: int | None = None
    bot_status: str = "left"  # member | left | kicked (groups); private chats: member
    started: bool = False  # private chats: the user has written to the bot
    migrated_to: int | None = None
    migrated_from: int | None = None
    next_message_id: int = 1

    @property
    def is_group(self) -> bool:
        return self.type in {"group", "supergroup"}

    def to_api(self) -> JSON:
        data: JSON = {"id": self.id, "type": self.type}
        if self.type == "private" and self.user is not None:
            data["first_name"] = self.user.first_name
            if self.user.last_name:
                data["last_name"] = self.user.last_name
            if self.user.username:
                data["username"] = self.user.username
        else:
            data["title"] = self.title or ""
        if self.type == "group":
            data["all_members_are_administrators"] = False
        return data

    def to_full_info(self) -> JSON:
        data = self.to_api()
        data.pop("all_members_are_administrators", None)
        data.update(
            {
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": False,
                    "limited_gifts": False,
                    "unique_gifts": False,
                    "premium_subscription": False,
                    "gifts_from_channels": False,
                },
            }
        )
        return data


@dataclass(eq=False)
class SimDocument:
    file_id: str
    file_unique_id: str
    file_name: str | None
    mime_type: str | None
    data: bytes

    @property
    def file_size(self) -> int:
        return len(self.data)

    def to_api(self) -> JSON:
        data: JSON = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
        }
        if self.file_name:
            data["file_name"] = self.file_name
        if self.mime_type:
            data["mime_type"] = self.mime_type
        return data


@dataclass(eq=False)
class SimMessage:
    message_id: int
    chat: SimChat
    from_user: SimUser | None
    date: int
    text: str | None = None
    entities: list[JSON] = field(default_factory=list)
    reply_markup: Keyboard | None = None  # inline keyboard rows, as the bot sent them
    other_markup: JSON | None = None  # ForceReply / ReplyKeyboardMarkup / ReplyKeyboardRemove
    reply_to: SimMessage | None = None
    document: SimDocument | None = None
    caption: str | None = None
    caption_entities: list[JSON] = field(default_factory=list)
    raw_text: str | None = None  # what the bot passed, before parse_mode was applied
    parse_mode: str | None = None
    edit_date: int | None = None
    deleted: bool = False
    delivered: bool = True  # users' messages: whether the bot received the update
    extra: JSON = field(default_factory=dict)  # service fields (migrate_to_chat_id, ...)

    @property
    def chat_id(self) -> int:
        return self.chat.id

    @property
    def is_from_bot(self) -> bool:
        return self.from_user is not None and self.from_user.is_bot

    @property
    def buttons(self) -> list[JSON]:
        return [b for row in self.reply_markup or [] for b in row]

    def to_api(self, *, with_reply: bool = True) -> JSON:
        data: JSON = {"message_id": self.message_id}
        if self.from_user is not None:
            data["from"] = self.from_user.to_api()
        data["chat"] = self.chat.to_api()
        data["date"] = self.date
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if with_reply and self.reply_to is not None and not self.reply_to.deleted:
            data["reply_to_message"] = self.reply_to.to_api(with_reply=False)
        if self.text is not None:
            data["text"] = self.text
            if self.entities:
                data["entities"] = [dict(e) for e in self.entities]
        if self.document is not None:
            data["document"] = self.document.to_api()
        if self.caption is not None:
            data["caption"] = self.caption
            if self.caption_entities:
                data["caption_entities"] = [dict(e) for e in self.caption_entities]
        if self.reply_markup is not None:
            data["reply_markup"] = {
                "inline_keyboard": [[dict(b) for b in row] for row in self.reply_markup]
            }
        data.update(self.extra)
        return data


class SentRecord(NamedTuple):
    time: float  # time.monotonic()
    chat_id: int
    method: str


@dataclass
class CallbackQuery:
    id: str
    user: SimUser
    message: SimMessage
    data: str
    answer: JSON | None = None


def chat_member(chat: SimChat, user: SimUser, status: str) -> JSON:
    """A ChatMember object: ``user`` with ``status`` in ``chat``."""
    member: JSON = {"status": status, "user": user.to_api()}
    if status == "kicked":
        member["until_date"] = 0
    if status == "creator":
        member["is_anonymous"] = False
    return member


def scope_key(scope: JSON | None) -> str:
    """The key of ``BotApiSandbox.commands`` for a BotCommandScope (None = default)."""
    return json.dumps(scope or {"type": "default"}, sort_keys=True, separators=(",", ":"))
