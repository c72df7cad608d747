"""The simulated Telegram: users, chats, messages, members, privacy mode, and what users do.

Tests (and the demo) drive it through plain methods: a user sends, presses, joins,
blocks the bot...; then they wait for and read what the bot sent.  What a user does
becomes an update queued for the bot; the transport (:mod:`sandbox.transport`) hands
those out, and the Bot API methods (:mod:`sandbox.methods`) act on the world.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable

from sandbox.entities import leading_command, mentions, user_entities
from sandbox.events import EventCallback, Pulse, Subscribers
from sandbox.model import (
    JSON,
    CallbackQuery,
    SentRecord,
    SimChat,
    SimDocument,
    SimMessage,
    SimUser,
    chat_member,
    scope_key,
)


class World:
    """Telegram as the bot's users see it, plus the bot's own settings (commands...).

    ``require_start``: sending to a user's private chat before the user wrote to the bot
    answers 403 like Telegram.
    """

    def __init__(
        self,
        *,
        bot_username: str = "mend_test_bot",
        bot_name: str = "Mend",
        bot_id: int = 1000000001,
        require_start: bool = True,
    ) -> None:
        self.bot = SimUser(
            id=bot_id, first_name=bot_name, username=bot_username, is_bot=True, language_code=None
        )
        self.require_start = require_start

        self.sent_log: list[SentRecord] = []
        self.commands: dict[str, list[JSON]] = {}
        self.localized_commands: dict[tuple[str, str], list[JSON]] = {}
        # setMyDescription / setMyShortDescription, by language code ("" = the default).
        self.descriptions: dict[str, str] = {}
        self.short_descriptions: dict[str, str] = {}
        # The latest update queued for the bot, as sent (a test can deliver it once more).
        self.last_update: JSON | None = None

        self.users: dict[int, SimUser] = {}
        self.chats: dict[int, SimChat] = {}
        self.callbacks: dict[str, CallbackQuery] = {}
        self.files: dict[str, SimDocument] = {}
        self.file_paths: dict[str, SimDocument] = {}
        self.file_numbers = itertools.count(1)
        self._messages: dict[int, list[SimMessage]] = {}
        self._subscribers = Subscribers()

        self._user_ids = itertools.count(100000001)
        self._group_ids = itertools.count(4000000001)
        self._supergroup_ids = itertools.count(1002000000001)
        self._callback_ids = itertools.count(7000000000000000001)

        self._updates: list[JSON] = []
        self._next_update_id = 500000001
        # Created when the server starts (see BotApiSandbox.start).
        self._update_pulse: Pulse | None = None
        self._message_pulse: Pulse | None = None

    @property
    def bot_username(self) -> str:
        return self.bot.username or ""

    # ------------------------------------------------------------------ the world changes

    def add_user(
        self,
        first_name: str,
        username: str | None = None,
        language_code: str | None = "en",
        *,
        last_name: str | None = None,
    ) -> SimUser:
        user = SimUser(
            next(self._user_ids), first_name, username, language_code, last_name=last_name
        )
        self.users[user.id] = user
        return user

    def user(self, user_id: int) -> SimUser:
        return self.users[user_id]

    def chat(self, chat_id: int) -> SimChat:
        return self.chats[chat_id]

    def private_chat(self, user: SimUser) -> SimChat:
        """The private chat between ``user`` and the bot (id == user id)."""
        chat = self.chats.get(user.id)
        if chat is None:
            chat = SimChat(id=user.id, type="private", user=user, bot_status="member")
            self.chats[chat.id] = chat
            self._messages[chat.id] = []
        return chat

    def create_group(self, title: str, members: list[SimUser], supergroup: bool = False) -> SimChat:
        """A group (negative id) or supergroup (``-100…``); ``members[0]`` is the creator."""
        chat_id = -next(self._supergroup_ids) if supergroup else -next(self._group_ids)
        chat = SimChat(
            id=chat_id,
            type="supergroup" if supergroup else "group",
            title=title,
            members={m.id: m for m in members},
            creator_id=members[0].id if members else None,
        )
        self.chats[chat.id] = chat
        self._messages[chat.id] = []
        return chat

    def join_group(self, chat: SimChat, user: SimUser) -> SimMessage:
        """``user`` joins ``chat``: a ``new_chat_members`` service message (delivered)."""
        chat.members[user.id] = user
        return self._service_message(chat, user, {"new_chat_members": [user.to_api()]})

    def leave_group(self, chat: SimChat, user: SimUser) -> SimMessage:
        """``user`` leaves ``chat``: a ``left_chat_member`` service message (delivered)."""
        chat.members.pop(user.id, None)
        return self._service_message(chat, user, {"left_chat_member": user.to_api()})

    def add_bot_to_group(self, chat: SimChat, by: SimUser) -> None:
        """``by`` adds the bot: ``my_chat_member`` (left → member) and a service message."""
        old = chat.bot_status
        chat.bot_status = "member"
        chat.members.setdefault(by.id, by)
        self.queue_my_chat_member(chat, by, old, "member")
        self._service_message(chat, by, {"new_chat_members": [self.bot.to_api()]})

    def remove_bot_from_group(self, chat: SimChat, by: SimUser, *, kick: bool = True) -> None:
        """``by`` removes the bot: ``my_chat_member`` to kicked (or left with ``kick=False``)."""
        old = chat.bot_status
        new = "kicked" if kick else "left"
        chat.bot_status = new
        self.queue_my_chat_member(chat, by, old, new)

    def block_bot(self, user: SimUser) -> None:
        """The user blocks the bot: sends to their private chat answer 403."""
        chat = self.private_chat(user)
        if not user.blocked_bot:
            user.blocked_bot = True
            self.queue_my_chat_member(chat, user, "member", "kicked")

    def unblock_bot(self, user: SimUser) -> None:
        chat = self.private_chat(user)
        if user.blocked_bot:
            user.blocked_bot = False
            self.queue_my_chat_member(chat, user, "kicked", "member")

    def migrate_to_supergroup(self, chat: SimChat, by: SimUser | None = None) -> SimChat:
        """Upgrade a group like Telegram: new id, two service messages, old id answers 400."""
        if chat.type != "group":
            raise ValueError(f"chat {chat.id} is not a basic group")
        actor = by or (chat.members.get(chat.creator_id) if chat.creator_id else None)
        if actor is None:
            actor = next(iter(chat.members.values()))
        new = SimChat(
            id=-next(self._supergroup_ids),
            type="supergroup",
            title=chat.title,
            members=dict(chat.members),
            creator_id=chat.creator_id,
            bot_status=chat.bot_status,
            migrated_from=chat.id,
        )
        self.chats[new.id] = new
        self._messages[new.id] = []
        self._service_message(chat, actor, {"migrate_to_chat_id": new.id})
        chat.migrated_to = new.id
        self._service_message(new, actor, {"migrate_from_chat_id": chat.id})
        return new

    # ------------------------------------------------------------------ users act

    async def user_sends(
        self,
        user: SimUser,
        chat: SimChat,
        text: str,
        reply_to: SimMessage | None = None,
    ) -> SimMessage:
        """``user`` writes ``text`` in ``chat``; delivered to the bot unless privacy hides it."""
        if chat.migrated_to is not None:
            raise ValueError(f"chat {chat.id} was migrated to {chat.migrated_to}")
        if reply_to is not None and reply_to.chat is not chat:
            raise ValueError("reply_to must be a message of the same chat")
        if chat.type == "private":
            if chat.user is not user:
                raise ValueError("only the chat's user can write in a private chat")
            if user.blocked_bot:
                self.unblock_bot(user)  # "Restart bot" in the client
            chat.started = True
        message = SimMessage(
            message_id=self.new_message_id(chat),
            chat=chat,
            from_user=user,
            date=int(time.time()),
            text=text,
            entities=user_entities(text),
            reply_to=reply_to,
        )
        message.delivered = self._bot_receives(chat, message)
        self._messages[chat.id].append(message)
        if message.delivered:
            self._queue_update("message", message.to_api())
        self.emit_message("message", message)
        await asyncio.sleep(0)
        return message

    async def user_presses(self, user: SimUser, message: SimMessage, callback_data: str) -> str:
        """``user`` presses a button with ``callback_data`` under ``message``; returns the id.

        The data need not be on the keyboard (forged callbacks are allowed)."""
        query_id = str(next(self._callback_ids))
        self.callbacks[query_id] = CallbackQuery(query_id, user, message, callback_data)
        if message.deleted:
            msg_json: JSON = {
                "chat": message.chat.to_api(),
                "message_id": message.message_id,
                "date": 0,
            }
        else:
            msg_json = message.to_api()
        self._queue_update(
            "callback_query",
            {
                "id": query_id,
                "from": user.to_api(),
                "message": msg_json,
                "chat_instance": str((message.chat.id * 2654435761) % (2**62)),
                "data": callback_data,
            },
        )
        await asyncio.sleep(0)
        return query_id

    def callback_answer(self, query_id: str) -> JSON | None:
        """What the bot answered to a callback query (text, show_alert, url, cache_time)."""
        query = self.callbacks.get(query_id)
        return None if query is None or query.answer is None else dict(query.answer)

    async def wait_for_callback_answer(self, query_id: str, timeout: float = 10.0) -> JSON:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            answer = self.callback_answer(query_id)
            if answer is not None:
                return answer
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"callback query {query_id} was not answered in {timeout}s")
            assert self._message_pulse is not None, "sandbox not started"
            await self._message_pulse.wait(remaining)

    # ------------------------------------------------------------------ reading what happened

    def _chat_of(self, chat: SimChat | int) -> SimChat:
        return chat if isinstance(chat, SimChat) else self.chats[chat]

    def messages(self, chat: SimChat | int, *, include_deleted: bool = False) -> list[SimMessage]:
        """All messages of a chat in order (users' and the bot's), current after edits."""
        msgs = self._messages.get(self._chat_of(chat).id, [])
        return [m for m in msgs if include_deleted or not m.deleted]

    def bot_messages(self, chat: SimChat | int) -> list[SimMessage]:
        return [m for m in self.messages(chat) if m.is_from_bot]

    def message(self, chat: SimChat | int, message_id: int) -> SimMessage | None:
        for msg in self._messages.get(self._chat_of(chat).id, []):
            if msg.message_id == message_id:
                return msg
        return None

    async def wait_for_message(
        self,
        chat: SimChat | int,
        predicate: Callable[[SimMessage], bool] | None = None,
        timeout: float = 10.0,
        *,
        after: SimMessage | int | None = None,
    ) -> SimMessage:
        """The first bot message in ``chat`` (id > ``after``) matching ``predicate``.

        Messages already there count, and so do edits that make a message match."""
        after_id = after.message_id if isinstance(after, SimMessage) else (after or 0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for msg in self.bot_messages(chat):
                if msg.message_id > after_id and (predicate is None or predicate(msg)):
                    return msg
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = [m.text or m.caption or m.extra for m in self.messages(chat)[-5:]]
                raise TimeoutError(
                    f"no matching bot message in chat {self._chat_of(chat).id} within "
                    f"{timeout}s; last messages: {recent!r}"
                )
            assert self._message_pulse is not None, "sandbox not started"
            await self._message_pulse.wait(remaining)

    @staticmethod
    def button(message: SimMessage, text_substring: str) -> str:
        """The callback_data of the first inline button whose text contains the substring."""
        for btn in message.buttons:
            if text_substring in btn.get("text", "") and "callback_data" in btn:
                return str(btn["callback_data"])
        texts = [b.get("text") for b in message.buttons]
        raise LookupError(f"no button containing {text_substring!r}; buttons: {texts!r}")

    def sends_to(self, chat: SimChat | int) -> list[SentRecord]:
        chat_id = self._chat_of(chat).id if isinstance(chat, SimChat) else chat
        return [r for r in self.sent_log if r.chat_id == chat_id]

    def max_sends_in_window(self, chat: SimChat | int, window: float = 60.0) -> int:
        """The largest number of sends to ``chat`` within any ``window`` seconds."""
        times = [r.time for r in self.sends_to(chat)]
        best = 0
        start = 0
        for end, t in enumerate(times):
            while t - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def get_commands(self, scope: JSON | None = None, language_code: str = "") -> list[JSON]:
        key = scope_key(scope)
        if language_code:
            return self.localized_commands.get((key, language_code), [])
        return self.commands.get(key, [])

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        """Call ``callback(event)`` on every new/edited/deleted message and callback answer.

        Events are JSON-able dicts with ``type`` (``message``, ``edited_message``,
        ``deleted_message``, ``callback_answer``), ``chat_id`` and details.  Coroutine
        callbacks are scheduled as tasks.  Returns an unsubscribe function."""
        return self._subscribers.add(callback)

    @property
    def pending_updates(self) -> list[JSON]:
        return list(self._updates)

    # ------------------------------------------------------------------ what the methods change

    def new_message_id(self, chat: SimChat) -> int:
        mid = chat.next_message_id
        chat.next_message_id += 1
        return mid

    def record_bot_message(self, message: SimMessage, method: str) -> JSON:
        self._messages[message.chat.id].append(message)
        self.sent_log.append(SentRecord(time.monotonic(), message.chat.id, method))
        self.emit_message("message", message)
        return message.to_api()

    def file_bytes(self, path: str) -> bytes | None:
        document = self.file_paths.get(path)
        return None if document is None else document.data

    def queue_my_chat_member(self, chat: SimChat, by: SimUser, old: str, new: str) -> None:
        self._queue_update(
            "my_chat_member",
            {
                "chat": chat.to_api(),
                "from": by.to_api(),
                "date": int(time.time()),
                "old_chat_member": chat_member(chat, self.bot, old),
                "new_chat_member": chat_member(chat, self.bot, new),
            },
        )

    def emit_message(self, kind: str, message: SimMessage) -> None:
        self.emit(
            {
                "type": kind,
                "chat_id": message.chat.id,
                "chat": message.chat.to_api(),
                "message_id": message.message_id,
                "from_bot": message.is_from_bot,
                "delivered": message.delivered,
                "message": message.to_api(),
            }
        )

    def emit(self, event: JSON) -> None:
        if self._message_pulse is not None:
            self._message_pulse.fire()
        self._subscribers.tell(event)

    # ------------------------------------------------------------------ internals

    def _bot_receives(self, chat: SimChat, message: SimMessage) -> bool:
        """Privacy mode: in a group the bot hears commands, replies to it and mentions."""
        if chat.type == "private":
            return True
        if chat.bot_status != "member":
            return False
        text = message.text or ""
        command = leading_command(text)
        if command is not None:
            target = command[1]
            if target is None or target.lower() == self.bot_username.lower():
                return True
        if message.reply_to is not None and message.reply_to.is_from_bot:
            return True
        return self.bot_username.lower() in mentions(text)

    def _service_message(self, chat: SimChat, actor: SimUser, fields: JSON) -> SimMessage:
        message = SimMessage(
            message_id=self.new_message_id(chat),
            chat=chat,
            from_user=actor,
            date=int(time.time()),
            extra=fields,
        )
        message.delivered = chat.bot_status == "member"
        self._messages[chat.id].append(message)
        if message.delivered:
            self._queue_update("message", message.to_api())
        self.emit_message("message", message)
        return message

    def _queue_update(self, kind: str, payload: JSON) -> None:
        update = {"update_id": self._next_update_id, kind: payload}
        self.last_update = json.loads(json.dumps(update))
        self._next_update_id += 1
        self._updates.append(update)
        self._fire_updates()

    def _fire_updates(self) -> None:
        if self._update_pulse is not None:
            self._update_pulse.fire()
