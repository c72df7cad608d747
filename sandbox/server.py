"""A local Telegram Bot API server ("the sandbox") with a simulation API for tests.

The real bot (python-telegram-bot) talks HTTP to it exactly as it would to
``api.telegram.org``; tests drive simulated users through plain Python methods on
:class:`BotApiSandbox` and read back what the bot did.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import logging
import mimetypes
import re
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple

import tornado.httpclient
import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web

from sandbox.entities import (
    EntityParseError,
    leading_command,
    mentions,
    parse_html,
    user_entities,
    utf16_len,
)
from sandbox.spec import ApiSpec, load_spec

log = logging.getLogger(__name__)

JSON = dict[str, Any]
Keyboard = list[list[dict[str, Any]]]
EventCallback = Callable[[JSON], Any]

TOKEN_RE = re.compile(r"(\d+):([A-Za-z0-9_-]+)")
MAX_TEXT = 4096
MAX_CAPTION = 1024
DEFAULT_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "callback_query",
        "my_chat_member",
        "inline_query",
        "chosen_inline_result",
        "shipping_query",
        "pre_checkout_query",
        "poll",
        "poll_answer",
        "chat_join_request",
    }
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)


class ApiError(Exception):
    """An error answer: ``{"ok": false, "error_code": code, "description": ...}``.

    ``malformed`` marks errors caused by a request the bot should never have made (bad
    parameters, text too long, unparsable HTML...); those are also recorded as violations.
    """

    def __init__(
        self,
        code: int,
        description: str,
        parameters: JSON | None = None,
        *,
        malformed: bool = False,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters
        self.malformed = malformed

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad(message: str, *, malformed: bool = False) -> ApiError:
    return ApiError(400, f"Bad Request: {message}", malformed=malformed)


def _malformed(message: str) -> ApiError:
    return _bad(message, malformed=True)


# --------------------------------------------------------------------------- simulated objects


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
class _CallbackQuery:
    id: str
    user: SimUser
    message: SimMessage
    data: str
    answer: JSON | None = None


class _Pulse:
    """Wakes every waiter whenever something changed."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(timeout, 0))


# --------------------------------------------------------------------------- request parameters


class Params:
    """Request parameters from a query string, a form, multipart or a JSON body.

    Form values are strings (PTB JSON-encodes non-string values), JSON values are native.
    """

    def __init__(self, values: JSON, files: dict[str, tuple[str, bytes, str]] | None = None):
        self.values = values
        self.files = files or {}

    def names(self) -> set[str]:
        return set(self.values) | set(self.files)

    def has(self, name: str) -> bool:
        return name in self.values and self.values[name] is not None

    def get_str(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return json.dumps(value)

    def get_int(self, name: str) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise _malformed(f'field "{name}" must be of type Integer')
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise _malformed(f'field "{name}" must be of type Integer') from None

    def get_bool(self, name: str) -> bool | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"true", "1"}:
            return True
        if text in {"false", "0"}:
            return False
        raise _malformed(f'field "{name}" must be of type Boolean')

    def get_json(self, name: str) -> Any:
        value = self.values.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise _malformed(f"can't parse {name} JSON object") from None
        return value

    def chat_id(self, name: str = "chat_id") -> int | str:
        value = self.values.get(name)
        if isinstance(value, str) and value.startswith("@"):
            return value
        number = self.get_int(name)
        if number is None:
            raise _bad("chat_id is empty")
        return number


# --------------------------------------------------------------------------- the sandbox


class BotApiSandbox:
    """A fake Bot API server plus a simulated Telegram (users, chats, messages).

    Use ``await start()`` / ``await stop()`` (or ``async with``); point the bot at ``url``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_username: str = "mend_test_bot",
        bot_name: str = "Mend",
        bot_id: int = 1000000001,
        spec: ApiSpec | bool | None = True,
        require_start: bool = True,
        webhook_backoff: float = 0.05,
    ) -> None:
        """``spec``: True loads api.json from the default places, False/None turns checking
        off, an :class:`ApiSpec` is used as is.  ``require_start``: sending to a user's
        private chat before the user wrote to the bot answers 403 like Telegram."""
        self.host = host
        self.port = port
        self.bot = SimUser(
            id=bot_id, first_name=bot_name, username=bot_username, is_bot=True, language_code=None
        )
        self.spec: ApiSpec | None = load_spec() if spec is True else (spec or None)
        self.require_start = require_start
        self.webhook_backoff = webhook_backoff

        self.violations: list[str] = []
        self.calls: Counter[str] = Counter()
        self.sent_log: list[SentRecord] = []
        self.commands: dict[str, list[JSON]] = {}
        self.localized_commands: dict[tuple[str, str], list[JSON]] = {}
        # setMyDescription / setMyShortDescription, by language code ("" = the default).
        self.descriptions: dict[str, str] = {}
        self.short_descriptions: dict[str, str] = {}
        self.webhook_deliveries = 0
        # The latest update queued for the bot, as sent (a test can deliver it once more).
        self.last_update: JSON | None = None

        self._users: dict[int, SimUser] = {}
        self._chats: dict[int, SimChat] = {}
        self._messages: dict[int, list[SimMessage]] = {}
        self._files: dict[str, SimDocument] = {}
        self._file_paths: dict[str, SimDocument] = {}
        self._callbacks: dict[str, _CallbackQuery] = {}
        self._failures: dict[str, list[ApiError]] = {}
        self._subscribers: list[EventCallback] = []
        self._tasks: set[asyncio.Task[Any]] = set()

        self._user_ids = itertools.count(100000001)
        self._group_ids = itertools.count(4000000001)
        self._supergroup_ids = itertools.count(1002000000001)
        self._callback_ids = itertools.count(7000000000000000001)
        self._file_counter = itertools.count(1)

        self._updates: list[JSON] = []
        self._next_update_id = 500000001
        self._allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self._update_pulse: _Pulse | None = None
        self._message_pulse: _Pulse | None = None
        self._poll_generation = 0

        self._webhook_url = ""
        self._webhook_secret: str | None = None
        self._webhook_max_connections = 40
        self._webhook_last_error: tuple[int, str] | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._http_client: tornado.httpclient.AsyncHTTPClient | None = None

        self._server: tornado.httpserver.HTTPServer | None = None
        self._stopping = False

        self._methods: dict[str, Callable[[Params], Any]] = {
            "getme": self._m_get_me,
            "getupdates": self._m_get_updates,
            "setwebhook": self._m_set_webhook,
            "deletewebhook": self._m_delete_webhook,
            "getwebhookinfo": self._m_get_webhook_info,
            "sendmessage": self._m_send_message,
            "editmessagetext": self._m_edit_message_text,
            "editmessagereplymarkup": self._m_edit_message_reply_markup,
            "deletemessage": self._m_delete_message,
            "answercallbackquery": self._m_answer_callback_query,
            "setmycommands": self._m_set_my_commands,
            "deletemycommands": self._m_delete_my_commands,
            "getmycommands": self._m_get_my_commands,
            "setmydescription": self._m_set_my_description,
            "getmydescription": self._m_get_my_description,
            "setmyshortdescription": self._m_set_my_short_description,
            "getmyshortdescription": self._m_get_my_short_description,
            "getchatmember": self._m_get_chat_member,
            "getchatmembercount": self._m_get_chat_member_count,
            "getchat": self._m_get_chat,
            "senddocument": self._m_send_document,
            "sendchataction": self._m_send_chat_action,
            "leavechat": self._m_leave_chat,
            "getfile": self._m_get_file,
            "close": self._m_true,
            "logout": self._m_true,
        }
        self._canonical_names = {
            "getme": "getMe", "getupdates": "getUpdates", "setwebhook": "setWebhook",
            "deletewebhook": "deleteWebhook", "getwebhookinfo": "getWebhookInfo",
            "sendmessage": "sendMessage", "editmessagetext": "editMessageText",
            "editmessagereplymarkup": "editMessageReplyMarkup", "deletemessage": "deleteMessage",
            "answercallbackquery": "answerCallbackQuery", "setmycommands": "setMyCommands",
            "deletemycommands": "deleteMyCommands", "getmycommands": "getMyCommands",
            "setmydescription": "setMyDescription", "getmydescription": "getMyDescription",
            "setmyshortdescription": "setMyShortDescription",
            "getmyshortdescription": "getMyShortDescription",
            "getchatmember": "getChatMember", "getchatmembercount": "getChatMemberCount",
            "getchat": "getChat", "senddocument": "sendDocument",
            "sendchataction": "sendChatAction", "leavechat": "leaveChat", "getfile": "getFile",
            "close": "close", "logout": "logOut",
        }  # fmt: skip

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:41234`` (what goes into TELEGRAM_API_URL)."""
        return f"http://{self.host}:{self.port}"

    @property
    def bot_username(self) -> str:
        return self.bot.username or ""

    async def start(self) -> None:
        if self._server is not None:
            return
        self._stopping = False
        self._update_pulse = _Pulse()
        self._message_pulse = _Pulse()
        app = tornado.web.Application(
            [
                (r"/bot([^/]*)/([^/]*)", _BotApiHandler, {"sandbox": self}),
                (r"/file/bot([^/]*)/(.+)", _FileHandler, {"sandbox": self}),
                (r"/.*", _NotFoundHandler),
            ],
            log_function=_log_request,
        )
        self._server = tornado.httpserver.HTTPServer(app, max_body_size=64 * 1024 * 1024)
        sockets = tornado.netutil.bind_sockets(self.port, self.host)
        self._server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        log.info("Bot API sandbox listening on %s", self.url)

    async def stop(self) -> None:
        self._stopping = True
        self._fire_updates()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._webhook_task
            self._webhook_task = None
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.stop()
            await asyncio.sleep(0)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.close_all_connections(), 5)
            self._server = None
        if self._http_client is not None:
            self._http_client.close()
            self._http_client = None

    async def __aenter__(self) -> BotApiSandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ simulation: world

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
        self._users[user.id] = user
        return user

    def user(self, user_id: int) -> SimUser:
        return self._users[user_id]

    def chat(self, chat_id: int) -> SimChat:
        return self._chats[chat_id]

    def private_chat(self, user: SimUser) -> SimChat:
        """The private chat between ``user`` and the bot (id == user id)."""
        chat = self._chats.get(user.id)
        if chat is None:
            chat = SimChat(id=user.id, type="private", user=user, bot_status="member")
            self._chats[chat.id] = chat
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
        self._chats[chat.id] = chat
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
        self._queue_my_chat_member(chat, by, old, "member")
        self._service_message(chat, by, {"new_chat_members": [self.bot.to_api()]})

    def remove_bot_from_group(self, chat: SimChat, by: SimUser, *, kick: bool = True) -> None:
        """``by`` removes the bot: ``my_chat_member`` to kicked (or left with ``kick=False``)."""
        old = chat.bot_status
        new = "kicked" if kick else "left"
        chat.bot_status = new
        self._queue_my_chat_member(chat, by, old, new)

    def block_bot(self, user: SimUser) -> None:
        """The user blocks the bot: sends to their private chat answer 403."""
        chat = self.private_chat(user)
        if not user.blocked_bot:
            user.blocked_bot = True
            self._queue_my_chat_member(chat, user, "member", "kicked")

    def unblock_bot(self, user: SimUser) -> None:
        chat = self.private_chat(user)
        if user.blocked_bot:
            user.blocked_bot = False
            self._queue_my_chat_member(chat, user, "kicked", "member")

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
        self._chats[new.id] = new
        self._messages[new.id] = []
        self._service_message(chat, actor, {"migrate_to_chat_id": new.id})
        chat.migrated_to = new.id
        self._service_message(new, actor, {"migrate_from_chat_id": chat.id})
        return new

    # ------------------------------------------------------------------ simulation: users act

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
            message_id=self._next_message_id(chat),
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
        self._emit_message("message", message)
        await asyncio.sleep(0)
        return message

    async def user_presses(self, user: SimUser, message: SimMessage, callback_data: str) -> str:
        """``user`` presses a button with ``callback_data`` under ``message``; returns the id.

        The data need not be on the keyboard (forged callbacks are allowed)."""
        query_id = str(next(self._callback_ids))
        self._callbacks[query_id] = _CallbackQuery(query_id, user, message, callback_data)
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
        query = self._callbacks.get(query_id)
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

    # ------------------------------------------------------------------ simulation: failures

    def fail_next(
        self,
        method: str,
        *,
        error_code: int = 429,
        retry_after: int = 1,
        count: int = 1,
        description: str | None = None,
    ) -> None:
        """The next ``count`` calls of ``method`` answer with this error."""
        parameters: JSON | None = None
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after}",
                400: "Bad Request: simulated failure",
                403: "Forbidden: simulated failure",
                409: "Conflict: simulated failure",
                500: "Internal Server Error",
                502: "Bad Gateway",
            }.get(error_code, f"Error {error_code}: simulated failure")
        if error_code == 429:
            parameters = {"retry_after": retry_after}
        queue = self._failures.setdefault(method.lower(), [])
        queue.extend(ApiError(error_code, description, parameters) for _ in range(count))

    # ------------------------------------------------------------------ reading what happened

    def _chat_of(self, chat: SimChat | int) -> SimChat:
        return chat if isinstance(chat, SimChat) else self._chats[chat]

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
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    @property
    def pending_updates(self) -> list[JSON]:
        return list(self._updates)

    # ------------------------------------------------------------------ internals: world

    def _next_message_id(self, chat: SimChat) -> int:
        mid = chat.next_message_id
        chat.next_message_id += 1
        return mid

    def _bot_receives(self, chat: SimChat, message: SimMessage) -> bool:
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
            message_id=self._next_message_id(chat),
            chat=chat,
            from_user=actor,
            date=int(time.time()),
            extra=fields,
        )
        message.delivered = chat.bot_status == "member"
        self._messages[chat.id].append(message)
        if message.delivered:
            self._queue_update("message", message.to_api())
        self._emit_message("message", message)
        return message

    def _chat_member(self, chat: SimChat, user: SimUser, status: str) -> JSON:
        member: JSON = {"status": status, "user": user.to_api()}
        if status == "kicked":
            member["until_date"] = 0
        if status == "creator":
            member["is_anonymous"] = False
        return member

    def _queue_my_chat_member(self, chat: SimChat, by: SimUser, old: str, new: str) -> None:
        self._queue_update(
            "my_chat_member",
            {
                "chat": chat.to_api(),
                "from": by.to_api(),
                "date": int(time.time()),
                "old_chat_member": self._chat_member(chat, self.bot, old),
                "new_chat_member": self._chat_member(chat, self.bot, new),
            },
        )

    def _queue_update(self, kind: str, payload: JSON) -> None:
        update = {"update_id": self._next_update_id, kind: payload}
        self.last_update = json.loads(json.dumps(update))
        self._next_update_id += 1
        self._updates.append(update)
        self._fire_updates()

    def _fire_updates(self) -> None:
        if self._update_pulse is not None:
            self._update_pulse.fire()

    def _emit(self, event: JSON) -> None:
        if self._message_pulse is not None:
            self._message_pulse.fire()
        for callback in list(self._subscribers):
            try:
                result = callback(event)
                if inspect.isawaitable(result):
                    self._spawn(result)
            except Exception:
                log.exception("sandbox subscriber failed")

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        async def runner() -> None:
            try:
                await awaitable
            except Exception:
                log.exception("sandbox subscriber failed")

        task = asyncio.ensure_future(runner())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _emit_message(self, kind: str, message: SimMessage) -> None:
        self._emit(
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

    # ------------------------------------------------------------------ internals: updates

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            self._updates = self._updates[offset:]
        else:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]

    def _deliverable(self, limit: int) -> list[JSON]:
        """Pending updates of allowed types; updates of other types are dropped."""
        kept = []
        for update in self._updates:
            kind = next(k for k in update if k != "update_id")
            if kind in self._allowed_updates:
                kept.append(update)
        self._updates = kept
        return [json.loads(json.dumps(u)) for u in kept[:limit]]

    def _set_allowed_updates(self, params: Params) -> None:
        allowed = params.get_json("allowed_updates")
        if allowed is None:
            return
        if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
            raise _malformed("can't parse allowed updates")
        self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_UPDATE_TYPES

    # ------------------------------------------------------------------ request dispatch

    async def handle(self, token: str, method: str, params: Params) -> tuple[int, JSON]:
        """Answer one Bot API call; returns (HTTP status, JSON body)."""
        match = TOKEN_RE.fullmatch(token)
        if match is None:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        self.bot.id = int(match.group(1))
        if self.spec is not None:
            canonical = self.spec.canonical(method)
        else:
            canonical = self._canonical_names.get(method.lower())
        if canonical is None:
            self.violations.append(f"unknown method {method!r}")
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        self.calls[canonical] += 1
        names = {n for n in params.names() if params.values.get(n) is not None} | set(params.files)
        if self.spec is not None:
            missing = self.spec.missing_required(canonical, names)
            if missing:
                self.violations.append(f"{canonical}: missing required parameter {missing[0]!r}")
                return 400, ApiError(400, f"Bad Request: {missing[0]} is required").payload()
            unknown = self.spec.unknown_params(canonical, params.values)
            if unknown:
                self.violations.append(f"{canonical}: unknown parameters {unknown}")
        failures = self._failures.get(canonical.lower())
        if failures:
            error = failures.pop(0)
            return error.code, error.payload()
        handler = self._methods.get(canonical.lower())
        if handler is None:
            self.violations.append(f"unimplemented method {canonical}")
            return 200, {"ok": True, "result": True}
        try:
            result = handler(params)
            if inspect.isawaitable(result):
                result = await result
        except ApiError as error:
            if error.malformed:
                self.violations.append(f"{canonical}: {error.description}")
            return error.code, error.payload()
        return 200, {"ok": True, "result": result}

    # ------------------------------------------------------------------ chat resolution

    def _lookup_chat(self, chat_ref: int | str) -> SimChat:
        if isinstance(chat_ref, str):  # @username: simulated groups have no public username
            raise _bad("chat not found")
        chat = self._chats.get(chat_ref)
        if chat is None:
            user = self._users.get(chat_ref)
            if user is None:
                raise _bad("chat not found")
            chat = self.private_chat(user)
        return chat

    def _check_migrated(self, chat: SimChat) -> None:
        if chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )

    def _writable_chat(self, chat_ref: int | str) -> SimChat:
        """The chat for a send, or the error Telegram gives for sending there."""
        chat = self._lookup_chat(chat_ref)
        self._check_migrated(chat)
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
            if self.require_start and not chat.started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        return chat

    def _existing_chat(self, chat_ref: int | str) -> SimChat:
        chat = self._lookup_chat(chat_ref)
        self._check_migrated(chat)
        return chat

    def _find_message(self, chat: SimChat, message_id: int | None) -> SimMessage | None:
        if message_id is None:
            return None
        msg = self.message(chat, message_id)
        return None if msg is None or msg.deleted else msg

    # ------------------------------------------------------------------ content validation

    def _format(
        self,
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
                    raise _malformed(f"can't parse entities: {exc}") from None
            elif mode not in {"markdown", "markdownv2"}:
                raise _malformed(f"unsupported parse_mode {parse_mode}")
        elif entities is not None:
            if not isinstance(entities, list):
                raise _malformed("can't parse entities JSON object")
            parsed_entities = [dict(e) for e in entities]
        if not text.strip():
            raise _malformed(empty)
        if utf16_len(text) > limit:
            raise _malformed(too_long)
        return text, parsed_entities

    @staticmethod
    def _inline_keyboard(markup: Any) -> Keyboard:
        rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise _malformed("can't parse inline keyboard button: InlineKeyboardMarkup expected")
        count = 0
        keyboard: Keyboard = []
        for row in rows:
            new_row = []
            for button in row:
                count += 1
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise _malformed("can't parse inline keyboard button: Text must be String")
                actions = [k for k in button if k != "text"]
                if not actions:
                    raise _malformed(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
                if "callback_data" in button:
                    data = button["callback_data"]
                    if not isinstance(data, str) or not 1 <= len(data.encode()) <= 64:
                        raise _malformed("BUTTON_DATA_INVALID")
                if "url" in button and not re.match(r"(https?|tg)://\S+$", str(button["url"])):
                    raise _malformed("BUTTON_URL_INVALID")
                new_row.append(dict(button))
            keyboard.append(new_row)
        if count > 100:
            raise _malformed("reply markup is too long")
        return keyboard

    def _markup(self, params: Params) -> tuple[Keyboard | None, JSON | None]:
        markup = params.get_json("reply_markup")
        if markup is None:
            return None, None
        if not isinstance(markup, dict):
            raise _malformed("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            return self._inline_keyboard(markup), None
        if markup.get("force_reply") is True or markup.get("remove_keyboard") is True:
            return None, markup
        if isinstance(markup.get("keyboard"), list):
            return None, markup
        raise _malformed("can't parse reply keyboard markup JSON object")

    def _reply_target(self, chat: SimChat, params: Params) -> SimMessage | None:
        reply_parameters = params.get_json("reply_parameters")
        message_id: int | None = None
        allow_missing = bool(params.get_bool("allow_sending_without_reply"))
        target_chat = chat
        if reply_parameters is not None:
            if not isinstance(reply_parameters, dict) or "message_id" not in reply_parameters:
                raise _malformed("can't parse reply parameters JSON object")
            message_id = int(reply_parameters["message_id"])
            allow_missing = bool(reply_parameters.get("allow_sending_without_reply"))
            if reply_parameters.get("chat_id") not in (None, chat.id):
                target_chat = self._lookup_chat(reply_parameters["chat_id"])
        else:
            message_id = params.get_int("reply_to_message_id")
        if message_id is None:
            return None
        target = self._find_message(target_chat, message_id)
        if target is None and not allow_missing:
            raise _bad("message to be replied not found")
        return target

    # ------------------------------------------------------------------ recording bot messages

    def _record_bot_message(self, message: SimMessage, method: str) -> JSON:
        self._messages[message.chat.id].append(message)
        self.sent_log.append(SentRecord(time.monotonic(), message.chat.id, method))
        self._emit_message("message", message)
        return message.to_api()

    # ------------------------------------------------------------------ methods

    def _m_true(self, params: Params) -> bool:
        return True

    def _m_get_me(self, params: Params) -> JSON:
        return {
            **self.bot.to_api(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_get_updates(self, params: Params) -> list[JSON]:
        if self._webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get_int("offset")
        limit = params.get_int("limit") or 100
        limit = max(1, min(limit, 100))
        timeout = max(0, params.get_int("timeout") or 0)
        self._set_allowed_updates(params)
        if offset is not None and offset != 0:
            self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self._fire_updates()  # terminate an earlier long poll
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            updates = self._deliverable(limit)
            remaining = deadline - loop.time()
            if updates or remaining <= 0 or self._stopping:
                return updates
            assert self._update_pulse is not None
            await self._update_pulse.wait(remaining)

    def _m_set_webhook(self, params: Params) -> bool:
        url = params.get_str("url") or ""
        secret = params.get_str("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise _malformed("secret token contains unallowed characters")
        if url and not re.match(r"https?://", url):
            raise _malformed("bad webhook: An HTTPS URL must be provided for webhook")
        if params.get_bool("drop_pending_updates"):
            self._updates.clear()
        self._set_allowed_updates(params)
        self._webhook_max_connections = params.get_int("max_connections") or 40
        self._webhook_secret = secret
        self._webhook_last_error = None
        self._webhook_url = url
        self._restart_webhook()
        return True

    def _m_delete_webhook(self, params: Params) -> bool:
        if params.get_bool("drop_pending_updates"):
            self._updates.clear()
        self._webhook_url = ""
        self._webhook_secret = None
        self._restart_webhook()
        return True

    def _m_get_webhook_info(self, params: Params) -> JSON:
        info: JSON = {
            "url": self._webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self._webhook_url:
            info["max_connections"] = self._webhook_max_connections
            info["ip_address"] = "127.0.0.1"
            if self._allowed_updates != DEFAULT_UPDATE_TYPES:
                info["allowed_updates"] = sorted(self._allowed_updates)
            if self._webhook_last_error is not None:
                info["last_error_date"], info["last_error_message"] = self._webhook_last_error
        return info

    def _restart_webhook(self) -> None:
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            self._webhook_task = None
        if self._webhook_url:
            self._webhook_task = asyncio.ensure_future(self._webhook_loop(self._webhook_url))

    async def _webhook_loop(self, url: str) -> None:
        if self._http_client is None:
            self._http_client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
        client = self._http_client
        backoff = self.webhook_backoff
        while not self._stopping and self._webhook_url == url:
            updates = self._deliverable(1)
            if not updates:
                assert self._update_pulse is not None
                await self._update_pulse.wait(1.0)
                continue
            update = updates[0]
            headers = {"Content-Type": "application/json"}
            if self._webhook_secret:
                headers["X-Telegram-Bot-Api-Secret-Token"] = self._webhook_secret
            error: str | None = None
            try:
                response = await client.fetch(
                    url,
                    method="POST",
                    body=json.dumps(update),
                    headers=headers,
                    raise_error=False,
                    request_timeout=30,
                )
                if not 200 <= response.code < 300:
                    error = f"Wrong response from the webhook: {response.code} {response.reason}"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = f"Connection failed: {exc}"
            if error is None:
                self.webhook_deliveries += 1
                self._confirm(update["update_id"] + 1)
                backoff = self.webhook_backoff
                continue
            self._webhook_last_error = (int(time.time()), error)
            log.debug("webhook delivery failed: %s; retrying in %.2fs", error, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    def _m_send_message(self, params: Params) -> JSON:
        chat = self._writable_chat(params.chat_id())
        text, entities = self._format(
            params.get_str("text") or "",
            params.get_str("parse_mode"),
            params.get_json("entities"),
            limit=MAX_TEXT,
            too_long="message is too long",
            empty="message text is empty",
        )
        return self._send(
            chat,
            params,
            "sendMessage",
            text=text,
            entities=entities,
            raw_text=params.get_str("text"),
        )

    def _send(self, chat: SimChat, params: Params, method: str, **content: Any) -> JSON:
        """What every send shares once its content is checked: markup, reply, recording."""
        keyboard, other = self._markup(params)
        reply_to = self._reply_target(chat, params)
        message = SimMessage(
            message_id=self._next_message_id(chat),
            chat=chat,
            from_user=self.bot,
            date=int(time.time()),
            reply_markup=keyboard,
            other_markup=other,
            reply_to=reply_to,
            parse_mode=params.get_str("parse_mode"),
            **content,
        )
        return self._record_bot_message(message, method)

    def _editable_message(self, params: Params, what: str) -> SimMessage:
        if params.has("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID")
        chat = self._existing_chat(params.chat_id())
        message = self._find_message(chat, params.get_int("message_id"))
        if message is None:
            raise _bad(f"message to {what} not found")
        if not message.is_from_bot:
            raise _bad(f"message can't be {what}ed")
        return message

    def _m_edit_message_text(self, params: Params) -> JSON:
        message = self._editable_message(params, "edit")
        if message.text is None:
            raise _bad("there is no text in the message to edit")
        text, entities = self._format(
            params.get_str("text") or "",
            params.get_str("parse_mode"),
            params.get_json("entities"),
            limit=MAX_TEXT,
            too_long="message is too long",
            empty="message text is empty",
        )
        keyboard, other = self._markup(params)
        if other is not None:
            raise _malformed("inline keyboard expected")
        if (
            text == message.text
            and entities == message.entities
            and (keyboard == message.reply_markup)
        ):
            raise _bad(
                "message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message"
            )
        message.text = text
        message.entities = entities
        message.raw_text = params.get_str("text")
        message.parse_mode = params.get_str("parse_mode")
        message.reply_markup = keyboard  # no reply_markup removes the keyboard, like Telegram
        message.edit_date = int(time.time())
        self._emit_message("edited_message", message)
        return message.to_api()

    def _m_edit_message_reply_markup(self, params: Params) -> JSON:
        message = self._editable_message(params, "edit")
        keyboard, other = self._markup(params)
        if other is not None:
            raise _malformed("inline keyboard expected")
        if keyboard == message.reply_markup or (not keyboard and not message.reply_markup):
            raise _bad(
                "message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message"
            )
        message.reply_markup = keyboard or None
        message.edit_date = int(time.time())
        self._emit_message("edited_message", message)
        return message.to_api()

    def _m_delete_message(self, params: Params) -> bool:
        chat = self._existing_chat(params.chat_id())
        message = self._find_message(chat, params.get_int("message_id"))
        if message is None:
            raise _bad("message to delete not found")
        if chat.is_group and not message.is_from_bot:
            raise _bad("message can't be deleted")
        message.deleted = True
        self._emit(
            {
                "type": "deleted_message",
                "chat_id": chat.id,
                "message_id": message.message_id,
                "from_bot": message.is_from_bot,
            }
        )
        return True

    def _m_answer_callback_query(self, params: Params) -> bool:
        query_id = params.get_str("callback_query_id") or ""
        query = self._callbacks.get(query_id)
        if query is None or query.answer is not None:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        text = params.get_str("text")
        if text is not None and len(text) > 200:
            raise _malformed("MESSAGE_TOO_LONG")
        query.answer = {
            "text": text,
            "show_alert": bool(params.get_bool("show_alert")),
            "url": params.get_str("url"),
            "cache_time": params.get_int("cache_time") or 0,
        }
        self._emit(
            {
                "type": "callback_answer",
                "callback_query_id": query_id,
                "chat_id": query.message.chat.id,
                "message_id": query.message.message_id,
                "user_id": query.user.id,
                "data": query.data,
                **query.answer,
            }
        )
        return True

    def _command_key(self, params: Params) -> tuple[str, str]:
        scope = params.get_json("scope")
        if scope is not None and (not isinstance(scope, dict) or "type" not in scope):
            raise _malformed("can't parse BotCommandScope JSON object")
        return scope_key(scope), params.get_str("language_code") or ""

    def _m_set_my_commands(self, params: Params) -> bool:
        commands = params.get_json("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _malformed("can't parse commands JSON object")
        clean: list[JSON] = []
        for cmd in commands:
            if not isinstance(cmd, dict):
                raise _malformed("can't parse commands JSON object")
            name, description = cmd.get("command"), cmd.get("description")
            if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise _malformed("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise _malformed("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": name, "description": description})
        key, lang = self._command_key(params)
        if lang:
            self.localized_commands[(key, lang)] = clean
        else:
            self.commands[key] = clean
        return True

    def _m_delete_my_commands(self, params: Params) -> bool:
        key, lang = self._command_key(params)
        if lang:
            self.localized_commands.pop((key, lang), None)
        else:
            self.commands.pop(key, None)
        return True

    def _m_get_my_commands(self, params: Params) -> list[JSON]:
        key, lang = self._command_key(params)
        if lang:
            return self.localized_commands.get((key, lang), [])
        return self.commands.get(key, [])

    def _set_text(self, params: Params, field: str, limit: int, store: dict[str, str]) -> bool:
        """Telegram's rule: 0..limit characters; an empty one removes that language's text."""
        value = params.get_str(field) or ""
        if len(value) > limit:
            raise _bad(f"{field} is too long")
        lang = params.get_str("language_code") or ""
        if value:
            store[lang] = value
        else:
            store.pop(lang, None)
        return True

    def _m_set_my_description(self, params: Params) -> bool:
        return self._set_text(params, "description", 512, self.descriptions)

    def _m_get_my_description(self, params: Params) -> JSON:
        lang = params.get_str("language_code") or ""
        return {"description": self.descriptions.get(lang, self.descriptions.get("", ""))}

    def _m_set_my_short_description(self, params: Params) -> bool:
        return self._set_text(params, "short_description", 120, self.short_descriptions)

    def _m_get_my_short_description(self, params: Params) -> JSON:
        lang = params.get_str("language_code") or ""
        return {
            "short_description": self.short_descriptions.get(
                lang, self.short_descriptions.get("", "")
            )
        }

    def _m_get_chat_member(self, params: Params) -> JSON:
        chat = self._existing_chat(params.chat_id())
        user_id = params.get_int("user_id")
        if user_id == self.bot.id:
            status = "member" if chat.type == "private" else chat.bot_status
            return self._chat_member(chat, self.bot, status)
        user = self._users.get(user_id or 0)
        if user is None:
            raise _bad("user not found")
        if chat.type == "private":
            if chat.user is not user:
                raise _bad("user not found")
            return self._chat_member(chat, user, "member")
        if user.id == chat.creator_id and user.id in chat.members:
            return self._chat_member(chat, user, "creator")
        return self._chat_member(chat, user, "member" if user.id in chat.members else "left")

    def _m_get_chat_member_count(self, params: Params) -> int:
        """Like Telegram: every member, bots included (this bot while it is in the group)."""
        chat = self._existing_chat(params.chat_id())
        if chat.type == "private":
            return 2
        return len(chat.members) + (1 if chat.bot_status in {"member", "administrator"} else 0)

    def _m_get_chat(self, params: Params) -> JSON:
        return self._existing_chat(params.chat_id()).to_full_info()

    def _m_send_document(self, params: Params) -> JSON:
        chat = self._writable_chat(params.chat_id())
        document = self._uploaded_document(params)
        caption: str | None = None
        caption_entities: list[JSON] = []
        if params.get_str("caption"):
            caption, caption_entities = self._format(
                params.get_str("caption") or "",
                params.get_str("parse_mode"),
                params.get_json("caption_entities"),
                limit=MAX_CAPTION,
                too_long="message caption is too long",
                empty="message caption is empty",
            )
        return self._send(
            chat,
            params,
            "sendDocument",
            document=document,
            caption=caption,
            caption_entities=caption_entities,
        )

    def _uploaded_document(self, params: Params) -> SimDocument:
        ref = params.get_str("document")
        upload: tuple[str, bytes, str] | None = None
        if ref is None or ref == "":
            upload = params.files.get("document")
        elif ref.startswith("attach://"):
            upload = params.files.get(ref[len("attach://") :])
            if upload is None:
                raise _malformed("wrong file identifier/HTTP URL specified")
        else:
            existing = self._files.get(ref)
            if existing is None:
                raise _bad("wrong file identifier/HTTP URL specified", malformed=True)
            return existing
        if upload is None:
            raise _malformed("there is no document in the request")
        filename, body, content_type = upload
        if not body:
            raise _malformed("file must be non-empty")
        if not content_type or content_type == "application/octet-stream":
            content_type = mimetypes.guess_type(filename)[0] or content_type
        number = next(self._file_counter)
        document = SimDocument(
            file_id=f"BQACAgIAAxkDAAI{number:06d}{secrets.token_urlsafe(18)}",
            file_unique_id=f"AgAD{number:04d}{secrets.token_urlsafe(6)}",
            file_name=filename or None,
            mime_type=content_type or None,
            data=body,
        )
        self._files[document.file_id] = document
        return document

    def _m_get_file(self, params: Params) -> JSON:
        document = self._files.get(params.get_str("file_id") or "")
        if document is None:
            raise _bad("invalid file_id")
        path = f"documents/file_{document.file_unique_id}"
        if document.file_name and "." in document.file_name:
            path += "." + document.file_name.rsplit(".", 1)[1]
        self._file_paths[path] = document
        return {**document.to_api(), "file_path": path}

    def _m_send_chat_action(self, params: Params) -> bool:
        self._writable_chat(params.chat_id())
        action = params.get_str("action")
        if action not in CHAT_ACTIONS:
            raise _malformed("wrong parameter action in request")
        return True

    def _m_leave_chat(self, params: Params) -> bool:
        chat = self._existing_chat(params.chat_id())
        if chat.type == "private":
            raise _bad("chat member status can't be changed in private chats")
        if chat.bot_status != "member":
            raise ApiError(403, "Forbidden: bot is not a member of the group chat")
        chat.bot_status = "left"
        self._queue_my_chat_member(chat, self.bot, "member", "left")
        return True

    def file_bytes(self, path: str) -> bytes | None:
        document = self._file_paths.get(path)
        return None if document is None else document.data


def scope_key(scope: JSON | None) -> str:
    """The key of ``BotApiSandbox.commands`` for a BotCommandScope (None = default)."""
    return json.dumps(scope or {"type": "default"}, sort_keys=True, separators=(",", ":"))


# --------------------------------------------------------------------------- HTTP handlers


def _log_request(handler: tornado.web.RequestHandler) -> None:
    log.debug(
        "%s %s %s %.1fms",
        handler.get_status(),
        handler.request.method,
        handler.request.uri,
        1000 * handler.request.request_time(),
    )


class _JsonHandler(tornado.web.RequestHandler):
    def write_json(self, status: int, body: JSON) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body, ensure_ascii=False))


class _BotApiHandler(_JsonHandler):
    def initialize(self, sandbox: BotApiSandbox) -> None:
        self.sandbox = sandbox

    def _params(self) -> Params:
        values: JSON = {}
        files: dict[str, tuple[str, bytes, str]] = {}
        for name, raw_values in self.request.query_arguments.items():
            values[name] = raw_values[-1].decode("utf-8", "replace")
        content_type = self.request.headers.get("Content-Type", "")
        if content_type.startswith("application/json") and self.request.body:
            try:
                body = json.loads(self.request.body)
            except ValueError:
                raise _malformed("can't parse JSON body") from None
            if not isinstance(body, dict):
                raise _malformed("JSON body must be an object")
            values.update(body)
        else:
            for name, raw_values in self.request.body_arguments.items():
                values[name] = raw_values[-1].decode("utf-8", "replace")
            for name, uploads in self.request.files.items():
                upload = uploads[-1]
                files[name] = (upload.filename, upload.body, upload.content_type)
        return Params(values, files)

    async def _handle(self, token: str, method: str) -> None:
        try:
            params = self._params()
        except ApiError as error:
            self.sandbox.violations.append(f"{method}: {error.description}")
            self.write_json(error.code, error.payload())
            return
        status, body = await self.sandbox.handle(token, method, params)
        with contextlib.suppress(tornado.iostream.StreamClosedError):
            self.write_json(status, body)

    async def get(self, token: str, method: str) -> None:
        await self._handle(token, method)

    async def post(self, token: str, method: str) -> None:
        await self._handle(token, method)


class _FileHandler(tornado.web.RequestHandler):
    def initialize(self, sandbox: BotApiSandbox) -> None:
        self.sandbox = sandbox

    def get(self, token: str, path: str) -> None:
        data = self.sandbox.file_bytes(path) if TOKEN_RE.fullmatch(token) else None
        if data is None:
            self.set_status(404)
            self.finish({"ok": False, "error_code": 404, "description": "Not Found"})
            return
        self.set_header("Content-Type", "application/octet-stream")
        self.finish(data)


class _NotFoundHandler(_JsonHandler):
    def get(self) -> None:
        self.write_json(404, {"ok": False, "error_code": 404, "description": "Not Found"})

    def post(self) -> None:
        self.get()
