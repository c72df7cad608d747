"""The demo's little Telegram: who is in it, what they see, and the demo clock.

The world lives in the sandbox (the same local Bot API server the end-to-end tests use);
this module only sets it up and turns its messages into what the page draws.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.clock import OffsetFileClock
from bot.texts import languages, name_of
from sandbox import BotApiSandbox, SimChat, SimMessage, SimUser

JSON = dict[str, Any]

GROUP = "group"
MAX_TEXT = 4096
# How far past a scheduled event "next event" moves the clock, so it is surely due.
PAST_DUE = timedelta(seconds=1)


@dataclass(frozen=True)
class Person:
    key: str
    name: str
    username: str
    role: str  # "partner" | "stranger"


PEOPLE = (
    Person("ana", "Ana", "ana", "partner"),
    Person("ben", "Ben", "ben", "partner"),
    Person("cleo", "Cleo", "cleo", "stranger"),
)


class World:
    """Ana and Ben (the couple), Cleo (a stranger), their group and two private chats."""

    def __init__(
        self, sandbox: BotApiSandbox, *, resumed: bool = False, language: str = "en"
    ) -> None:
        self.sandbox = sandbox
        self.resumed = resumed
        self.language = "en"
        # The sandbox dates messages in real time; the page shows demo time, so each
        # message keeps the demo moment at which the page first saw it.
        self.clock_offset: Callable[[], float] = lambda: 0.0
        self._dates: dict[tuple[int, int], int] = {}
        self.users: dict[str, SimUser] = {}
        for person in PEOPLE:
            self.users[person.key] = sandbox.add_user(person.name, person.username)
        self.keys_by_user_id = {user.id: key for key, user in self.users.items()}
        self.set_language(language)
        partners = [self.users[p.key] for p in PEOPLE if p.role == "partner"]
        strangers = [self.users[p.key] for p in PEOPLE if p.role == "stranger"]
        self.group = sandbox.create_group("Ana & Ben", [*partners, *strangers])
        self.chats: dict[str, SimChat] = {GROUP: self.group}
        for user in partners:
            chat = sandbox.private_chat(user)
            # Coming back to an existing demo database: the partners pressed Start in an
            # earlier run, so the bot may write to them as before.
            chat.started = resumed
            self.chats[self.keys_by_user_id[user.id]] = chat
        self.keys_by_chat_id = {chat.id: key for key, chat in self.chats.items()}

    def add_bot(self) -> None:
        """Ana adds the bot to the group (a my_chat_member update, as in Telegram).

        Resuming an earlier demo, the bot is in the group already and hears nothing new."""
        if self.resumed:
            self.group.bot_status = "member"
        else:
            self.sandbox.add_bot_to_group(self.group, by=self.users["ana"])

    # ------------------------------------------------------------------ who may do what

    def actor(self, chat_key: str, person_key: str) -> SimUser:
        """The user acting in a chat: anyone in the group, only the owner in private."""
        if chat_key not in self.chats:
            raise LookupError("unknown chat")
        if person_key not in self.users:
            raise LookupError("unknown person")
        if chat_key != GROUP and person_key != chat_key:
            raise PermissionError("only its owner writes in a private chat")
        return self.users[person_key]

    def set_language(self, language: str) -> None:
        """Everyone's Telegram language (`language_code`), as in the Telegram app's settings.

        Mend reads it when a person joins or first writes; a couple set up already keeps
        its languages (as in Telegram), and /language changes them."""
        if language not in languages():
            raise LookupError(f"no catalogue for {language!r}; choose one of {languages()}")
        self.language = language
        for user in self.users.values():
            user.language_code = language

    def message(self, chat_key: str, message_id: int) -> SimMessage | None:
        message = self.sandbox.message(self.chats[chat_key], message_id)
        return None if message is None or message.deleted else message

    # ------------------------------------------------------------------ what the page shows

    def snapshot(self) -> JSON:
        bot = self.sandbox.bot
        return {
            "bot": {"name": bot.first_name, "username": bot.username},
            "people": [
                {"key": p.key, "name": p.name, "role": p.role, "id": self.users[p.key].id}
                for p in PEOPLE
            ],
            "chats": [self.chat_view(key) for key in self.chats],
            "messages": {
                key: [
                    view
                    for message in self.sandbox.messages(chat)
                    if (view := self.message_view(message)) is not None
                ]
                for key, chat in self.chats.items()
            },
            "resumed": self.resumed,
            "language": self.language,
            "languages": [{"code": code, "name": name_of(code)} for code in languages()],
        }

    def chat_view(self, key: str) -> JSON:
        chat = self.chats[key]
        if key == GROUP:
            members = [
                self.keys_by_user_id[uid] for uid in chat.members if uid in self.keys_by_user_id
            ]
            return {
                "key": key,
                "id": chat.id,
                "type": "group",
                "title": chat.title,
                "members": members,
            }
        return {
            "key": key,
            "id": chat.id,
            "type": "private",
            "owner": key,
            "title": self.sandbox.bot.first_name,
        }

    def person_key(self, user: SimUser | None) -> str:
        if user is None:
            return ""
        if user.is_bot:
            return "bot"
        return self.keys_by_user_id.get(user.id, str(user.id))

    def message_view(self, message: SimMessage) -> JSON | None:
        """One message as the page draws it (None for service messages it does not show)."""
        service = self._service_line(message)
        if message.text is None and message.document is None and service is None:
            return None
        sender = message.from_user
        view: JSON = {
            "id": message.message_id,
            "from": self.person_key(sender),
            "name": sender.first_name if sender else "",
            "date": self._dates.setdefault(
                (message.chat.id, message.message_id), message.date + round(self.clock_offset())
            ),
            "text": message.text if message.text is not None else message.caption,
            "entities": message.entities if message.text is not None else message.caption_entities,
            "edited": message.edit_date is not None,
            "delivered": message.delivered,
            "buttons": [
                [
                    {
                        key: str(button[key])
                        for key in ("text", "callback_data", "url")
                        if key in button
                    }
                    for button in row
                ]
                for row in message.reply_markup or []
            ],
            "force_reply": bool((message.other_markup or {}).get("force_reply")),
            "placeholder": str((message.other_markup or {}).get("input_field_placeholder") or ""),
        }
        if service is not None:
            view["service"] = service
        if message.document is not None:
            view["document"] = {
                "name": message.document.file_name or "file",
                "size": message.document.file_size,
            }
        reply_to = message.reply_to
        if reply_to is not None and not reply_to.deleted:
            view["reply_to"] = {
                "id": reply_to.message_id,
                "name": reply_to.from_user.first_name if reply_to.from_user else "",
                "text": (reply_to.text or reply_to.caption or "")[:120],
            }
        return view

    def _service_line(self, message: SimMessage) -> str | None:
        joined = message.extra.get("new_chat_members")
        if joined:
            actor = message.from_user.first_name if message.from_user else "Someone"
            names = ", ".join(str(member.get("first_name", "")) for member in joined)
            return f"{actor} added {names}"
        if "migrate_to_chat_id" in message.extra or "migrate_from_chat_id" in message.extra:
            return "The group became a supergroup"
        return None


# ---------------------------------------------------------------------- the demo clock


class DemoClock:
    """The bot's clock file, plus what the demo database says is scheduled."""

    def __init__(self, clock_file: Path, database: Path, group_chat_id: int) -> None:
        self.clock = OffsetFileClock(clock_file)
        self.database = database
        self.group_chat_id = group_chat_id

    def now(self) -> datetime:
        return self.clock.now()

    def offset(self) -> timedelta:
        return self.clock.now() - datetime.now(UTC)

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)

    def _query(self, sql: str, *args: Any) -> Any:
        if not self.database.exists():
            return None
        try:
            with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=2) as db:
                row = db.execute(sql, args).fetchone()
        except sqlite3.Error:  # not migrated yet, or busy: nothing to show this time
            return None
        return row[0] if row else None

    def next_due(self) -> datetime | None:
        """The earliest pending timer of the bot (any couple), in UTC."""
        value = self._query("SELECT min(due_at) FROM timer WHERE state = 'pending'")
        if not value:
            return None
        due = datetime.fromisoformat(str(value))
        return due.replace(tzinfo=UTC) if due.tzinfo is None else due.astimezone(UTC)

    def zone(self) -> str:
        """The couple's time zone once the bot knows the group, else UTC."""
        value = self._query(
            "SELECT timezone FROM couple WHERE group_chat_id = ?", self.group_chat_id
        )
        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError):
            return "UTC"
        return str(value)

    def to_next_event(self) -> datetime | None:
        """Move time to just past the earliest pending timer; returns it (None: nothing)."""
        due = self.next_due()
        if due is None:
            return None
        gap = due - self.now() + PAST_DUE
        if gap > timedelta():
            self.advance(gap)
        return due

    def view(self) -> JSON:
        due = self.next_due()
        return {
            "offset_ms": round(self.offset().total_seconds() * 1000),
            "now": self.now().isoformat(),
            "zone": self.zone(),
            "next_due": due.isoformat() if due else None,
        }
