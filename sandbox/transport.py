"""The HTTP side of the sandbox: the server, long polling, webhook delivery, and the
errors a test asks for (``fail_next``: a 429 with ``retry_after``, a 502...).

:class:`BotApiSandbox` is the world (:mod:`sandbox.world`) with a Bot API server in
front: each request is checked against the official method list (:mod:`sandbox.spec`)
and answered by a method of :mod:`sandbox.methods`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable
from types import TracebackType
from typing import Any

import tornado.httpclient
import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web

from sandbox.events import Pulse
from sandbox.methods import METHODS
from sandbox.model import JSON
from sandbox.params import ApiError, Params, malformed
from sandbox.spec import ApiSpec, load_spec
from sandbox.world import World

log = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"(\d+):([A-Za-z0-9_-]+)")

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


class BotApiSandbox(World):
    """A fake Bot API server in front of a simulated Telegram (users, chats, messages).

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
        super().__init__(
            bot_username=bot_username, bot_name=bot_name, bot_id=bot_id, require_start=require_start
        )
        self.host = host
        self.port = port
        self.spec: ApiSpec | None = load_spec() if spec is True else (spec or None)
        self.webhook_backoff = webhook_backoff

        self.violations: list[str] = []
        self.calls: Counter[str] = Counter()
        self.webhook_deliveries = 0
        self._failures: dict[str, list[ApiError]] = {}

        self._allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self._poll_generation = 0
        self._webhook_url = ""
        self._webhook_secret: str | None = None
        self._webhook_max_connections = 40
        self._webhook_last_error: tuple[int, str] | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._http_client: tornado.httpclient.AsyncHTTPClient | None = None

        self._server: tornado.httpserver.HTTPServer | None = None
        self._stopping = False

        methods: dict[str, Callable[[Params], Any]] = {
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            **{name: functools.partial(method, self) for name, method in METHODS.items()},
        }
        # Without api.json, these spellings are the only known ones (any letter case).
        self._canonical_names = {name.lower(): name for name in methods}
        self._methods = {name.lower(): handler for name, handler in methods.items()}

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:41234`` (what goes into TELEGRAM_API_URL)."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        if self._server is not None:
            return
        self._stopping = False
        self._update_pulse = Pulse()
        self._message_pulse = Pulse()
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
        self._subscribers.cancel()
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

    # ------------------------------------------------------------------ answering a request

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

    # ------------------------------------------------------------------ long polling

    async def _get_updates(self, params: Params) -> list[JSON]:
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

    def _set_allowed_updates(self, params: Params) -> None:
        allowed = params.get_json("allowed_updates")
        if allowed is None:
            return
        if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
            raise malformed("can't parse allowed updates")
        self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_UPDATE_TYPES

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

    # ------------------------------------------------------------------ webhook delivery

    def _set_webhook(self, params: Params) -> bool:
        url = params.get_str("url") or ""
        secret = params.get_str("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise malformed("secret token contains unallowed characters")
        if url and not re.match(r"https?://", url):
            raise malformed("bad webhook: An HTTPS URL must be provided for webhook")
        if params.get_bool("drop_pending_updates"):
            self._updates.clear()
        self._set_allowed_updates(params)
        self._webhook_max_connections = params.get_int("max_connections") or 40
        self._webhook_secret = secret
        self._webhook_last_error = None
        self._webhook_url = url
        self._restart_webhook()
        return True

    def _delete_webhook(self, params: Params) -> bool:
        if params.get_bool("drop_pending_updates"):
            self._updates.clear()
        self._webhook_url = ""
        self._webhook_secret = None
        self._restart_webhook()
        return True

    def _get_webhook_info(self, params: Params) -> JSON:
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
                raise malformed("can't parse JSON body") from None
            if not isinstance(body, dict):
                raise malformed("JSON body must be an object")
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
