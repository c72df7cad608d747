"""The demo: the sandbox, the real bot as a subprocess, and a web page on one event loop.

    sandbox (local Bot API, random port) <-- HTTP -- `python -m bot` (subprocess)
        ^ simulate users                                  | reads/writes demo.db, clock
        |                                                 v
    web page (tornado, --port) -- /api/send, /api/press, /api/time, /api/events (SSE)

Nothing here reaches into the bot: the page acts only through the sandbox, as a person
acts only through Telegram, and moves time only through the bot's clock file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web

from demo.world import MAX_TEXT, DemoClock, World
from sandbox import BotApiSandbox
from sandbox.testing import TEST_TOKEN

log = logging.getLogger(__name__)

JSON = dict[str, Any]
STATIC = Path(__file__).resolve().parent / "static"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the folder that holds `bot/`
BOT_USERNAME = "mend_demo_bot"
SWEEP_SECONDS = "0.5"
MAX_ADVANCE = timedelta(days=31)
HEARTBEAT_SECONDS = 15.0
CLOCK_POLL_SECONDS = 1.0
CLOCK_REFRESH_DELAY = 0.2


@dataclass(frozen=True)
class Options:
    port: int
    data_dir: Path
    fresh: bool
    host: str = "127.0.0.1"
    language: str = "en"


class DemoError(Exception):
    """Something that stops the demo with one line and an exit code."""

    def __init__(self, line: str, code: int = 1) -> None:
        super().__init__(line)
        self.line = line
        self.code = code


# ---------------------------------------------------------------------- live events


class Hub:
    """Fans events out to every open page (one queue per server-sent-events stream)."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[JSON | None]] = set()

    def open(self) -> asyncio.Queue[JSON | None]:
        queue: asyncio.Queue[JSON | None] = asyncio.Queue()
        self.queues.add(queue)
        return queue

    def close(self, queue: asyncio.Queue[JSON | None]) -> None:
        self.queues.discard(queue)

    def publish(self, event: JSON) -> None:
        for queue in list(self.queues):
            queue.put_nowait(event)

    def end_all(self) -> None:
        for queue in list(self.queues):
            queue.put_nowait(None)


# ---------------------------------------------------------------------- the bot subprocess


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the bot gets SIGTERM if the demo dies without cleaning up."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class BotProcess:
    def __init__(
        self, sandbox: BotApiSandbox, data_dir: Path, database: Path, clock_file: Path
    ) -> None:
        self.sandbox = sandbox
        self.data_dir = data_dir
        self.database = database
        self.clock_file = clock_file
        self.log_path = data_dir / "bot.log"
        self.process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(
                ("BOT_", "DATABASE_", "WEBHOOK_", "DATA_KEY", "MEND_", "TELEGRAM_")
            )
        }
        python_path = [str(PACKAGE_ROOT)]
        if env.get("PYTHONPATH"):
            python_path.append(env["PYTHONPATH"])
        env.update(
            BOT_TOKEN=TEST_TOKEN,
            TELEGRAM_API_URL=self.sandbox.url,
            DATABASE_URL=f"sqlite:///{self.database}",
            MEND_CLOCK_FILE=str(self.clock_file),
            MEND_SWEEP_SECONDS=SWEEP_SECONDS,
            # The demo moves time forward; Telegram's limits count real seconds and the
            # local server has none.
            MEND_RATE_LIMIT="off",
            WEBHOOK_URL="",
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=os.pathsep.join(python_path),
        )
        return env

    async def start(self, timeout: float = 60.0) -> None:
        """Start `python -m bot` and wait until it polls the sandbox for updates."""
        with self.log_path.open("ab") as log_file:
            # cwd: the data folder, so a developer's own .env is not picked up.
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot"],
                cwd=self.data_dir,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.sandbox.calls["getUpdates"] == 0:
            if self.process.poll() is not None:
                raise DemoError(
                    f"the bot did not start (exit {self.process.returncode}); see {self.log_path}"
                )
            if loop.time() > deadline:
                raise DemoError(f"the bot did not start within {timeout:.0f}s; see {self.log_path}")
            await asyncio.sleep(0.05)

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    async def stop(self, timeout: float = 15.0) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while process.poll() is None:
            if loop.time() > deadline:
                process.kill()
                process.wait(5)
                return
            await asyncio.sleep(0.05)


# ---------------------------------------------------------------------- the demo


class Demo:
    """Everything the demo runs, started and stopped together."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.data_dir = options.data_dir.resolve()
        self.database = self.data_dir / "demo.db"
        self.clock_file = self.data_dir / "clock"
        self.hub = Hub()
        self.sandbox = BotApiSandbox(bot_username=BOT_USERNAME, bot_name="Mend")
        self.world: World | None = None
        self.clock: DemoClock | None = None
        self.bot: BotProcess | None = None
        self.web: tornado.httpserver.HTTPServer | None = None
        self.stopping = asyncio.Event()
        self.exit_code = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Any = None
        self._last_clock: JSON | None = None
        self._clock_refresh: asyncio.TimerHandle | None = None

    @property
    def url(self) -> str:
        return f"http://{self.options.host}:{self.options.port}"

    def _prepare_data(self) -> bool:
        """Create the data folder; --fresh forgets the earlier demo. True: resuming."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.options.fresh:
            for name in ("demo.db", "demo.db-wal", "demo.db-shm", "clock", "bot.log"):
                (self.data_dir / name).unlink(missing_ok=True)
        return self.database.exists()

    def _bind(self) -> list[Any]:
        try:
            return tornado.netutil.bind_sockets(self.options.port, self.options.host)
        except OSError as error:
            raise DemoError(
                f"port {self.options.port} on {self.options.host} is not free ({error.strerror});"
                f" try: python -m bot demo --port {self.options.port + 1}",
                code=2,
            ) from None

    async def start(self) -> None:
        sockets = self._bind()  # first: a taken port should stop us before anything runs
        try:
            resumed = self._prepare_data()
            await self.sandbox.start()
            self.world = World(self.sandbox, resumed=resumed, language=self.options.language)
            self.clock = DemoClock(self.clock_file, self.database, self.world.group.id)
            clock = self.clock
            self.world.clock_offset = lambda: clock.offset().total_seconds()
            self._unsubscribe = self.sandbox.subscribe(self._on_sandbox_event)
            self.world.add_bot()
            self.bot = BotProcess(self.sandbox, self.data_dir, self.database, self.clock_file)
            await self.bot.start()
            self.web = tornado.httpserver.HTTPServer(make_app(self))
            self.web.add_sockets(sockets)
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        self._tasks.append(asyncio.ensure_future(self._watch()))

    async def stop(self) -> None:
        if self._clock_refresh is not None:
            self._clock_refresh.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.hub.end_all()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self.bot is not None:
            await self.bot.stop()  # before the sandbox: the bot says goodbye over HTTP
        if self.web is not None:
            self.web.stop()
            await asyncio.sleep(0.05)  # let the event streams see their end
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.web.close_all_connections(), 5)
        await self.sandbox.stop()
        for violation in self.sandbox.violations:
            # The bot asked Telegram for something it would refuse: worth a developer's eye.
            print(f"mend demo: Bot API violation: {violation}", file=sys.stderr, flush=True)

    async def _watch(self) -> None:
        """Notice a bot that died, and tell the pages when the clock or zone changed."""
        while not self.stopping.is_set():
            await asyncio.sleep(CLOCK_POLL_SECONDS)
            assert self.bot is not None
            code = self.bot.exited()
            if code is not None:
                print(
                    f"mend demo: the bot stopped unexpectedly (exit {code}); "
                    f"see {self.bot.log_path}",
                    file=sys.stderr,
                    flush=True,
                )
                self.exit_code = 1
                self.stopping.set()
                return
            self.publish_clock()

    # ------------------------------------------------------------------ events

    def clock_view(self) -> JSON:
        assert self.clock is not None
        return self.clock.view()

    def publish_clock(self, *, force: bool = False) -> JSON:
        view = self.clock_view()
        comparable = {k: v for k, v in view.items() if k != "now"}
        if force or comparable != self._last_clock:
            self._last_clock = comparable
            self.hub.publish({"type": "clock", "clock": view})
        return view

    def _refresh_clock_soon(self) -> None:
        """The bot just wrote: its timers may have changed, so tell the page shortly."""
        if self._clock_refresh is None:
            self._clock_refresh = asyncio.get_running_loop().call_later(
                CLOCK_REFRESH_DELAY, self._refresh_clock
            )

    def _refresh_clock(self) -> None:
        self._clock_refresh = None
        self.publish_clock()

    def snapshot(self) -> JSON:
        assert self.world is not None
        return {"type": "state", **self.world.snapshot(), "clock": self.clock_view()}

    def _on_sandbox_event(self, event: JSON) -> None:
        world = self.world
        assert world is not None
        chat_key = world.keys_by_chat_id.get(int(event.get("chat_id") or 0))
        kind = event.get("type")
        if kind in {"message", "edited_message"} and chat_key is not None:
            message = self.sandbox.message(world.chats[chat_key], int(event["message_id"]))
            view = world.message_view(message) if message is not None else None
            if view is not None:
                self.hub.publish({"type": "message", "chat": chat_key, "message": view})
            if event.get("from_bot"):
                self._refresh_clock_soon()
        elif kind == "deleted_message" and chat_key is not None:
            self.hub.publish(
                {"type": "deleted", "chat": chat_key, "message_id": event["message_id"]}
            )
        elif kind == "callback_answer":
            self.hub.publish(
                {
                    "type": "answer",
                    "chat": chat_key,
                    "message_id": event.get("message_id"),
                    "person": world.keys_by_user_id.get(int(event.get("user_id") or 0), ""),
                    "text": event.get("text") or "",
                    "show_alert": bool(event.get("show_alert")),
                }
            )


# ---------------------------------------------------------------------- HTTP


class _Base(tornado.web.RequestHandler):
    def initialize(self, demo: Demo) -> None:
        self.demo = demo

    def prepare(self) -> None:
        # Only this machine's browser: refuse other Host names (DNS rebinding) and
        # cross-site form posts (the API takes JSON only).
        host = self.request.host_name
        if host not in {"127.0.0.1", "localhost", "::1", self.demo.options.host}:
            raise tornado.web.HTTPError(403)
        if self.request.method == "POST" and not self.request.headers.get(
            "Content-Type", ""
        ).startswith("application/json"):
            raise tornado.web.HTTPError(415)

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header(
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self'; script-src 'self'; "
            "img-src 'self' data:; frame-ancestors 'none'",
        )

    def body(self) -> JSON:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise tornado.web.HTTPError(400, "not JSON") from None
        if not isinstance(data, dict):
            raise tornado.web.HTTPError(400, "not a JSON object")
        return data

    def answer(self, body: JSON, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body, ensure_ascii=False))

    def refuse(self, why: str, status: int = 400) -> None:
        self.answer({"ok": False, "error": why}, status)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.answer({"ok": False, "error": self._reason}, status_code)


class PageHandler(_Base):
    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish((STATIC / "index.html").read_bytes())


class StaticHandler(tornado.web.StaticFileHandler):
    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "no-store")


class StateHandler(_Base):
    def get(self) -> None:
        self.answer(self.demo.snapshot())


class EventsHandler(_Base):
    """Server-sent events: a full snapshot first, then every change as it happens."""

    queue: asyncio.Queue[JSON | None] | None = None

    async def get(self) -> None:
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("X-Accel-Buffering", "no")
        self.queue = queue = self.demo.hub.open()
        try:
            self.write("retry: 1000\n\n")
            self._event(self.demo.snapshot())
            await self.flush()
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    self.write(": still here\n\n")
                    await self.flush()
                    continue
                if event is None:
                    break
                self._event(event)
                await self.flush()
        except tornado.iostream.StreamClosedError:
            return
        finally:
            self.demo.hub.close(queue)
        with contextlib.suppress(tornado.iostream.StreamClosedError):
            self.finish()

    def _event(self, event: JSON) -> None:
        self.write(f"data: {json.dumps(event, ensure_ascii=False)}\n\n")

    def on_connection_close(self) -> None:
        if self.queue is not None:
            self.queue.put_nowait(None)


class SendHandler(_Base):
    """A person writes in a chat: {"as": "ana", "chat": "group", "text": ..., "reply_to": id}."""

    async def post(self) -> None:
        body = self.body()
        world = self.demo.world
        assert world is not None
        chat_key, text = str(body.get("chat", "")), str(body.get("text", "")).strip()
        try:
            user = world.actor(chat_key, str(body.get("as", "")))
        except (LookupError, PermissionError) as error:
            return self.refuse(str(error))
        if not text:
            return self.refuse("nothing to send")
        if len(text) > MAX_TEXT:
            return self.refuse(f"at most {MAX_TEXT} characters")
        reply_to = None
        if body.get("reply_to") is not None:
            reply_to = world.message(chat_key, _int(body["reply_to"]))
            if reply_to is None:
                return self.refuse("that message is gone")
        sent = await self.demo.sandbox.user_sends(
            user, world.chats[chat_key], text, reply_to=reply_to
        )
        self.answer({"ok": True, "message_id": sent.message_id, "delivered": sent.delivered})


class PressHandler(_Base):
    """A person taps an inline button: {"as", "chat", "message_id", "data"}."""

    async def post(self) -> None:
        body = self.body()
        world = self.demo.world
        assert world is not None
        chat_key, data = str(body.get("chat", "")), str(body.get("data", ""))
        try:
            user = world.actor(chat_key, str(body.get("as", "")))
        except (LookupError, PermissionError) as error:
            return self.refuse(str(error))
        message = world.message(chat_key, _int(body.get("message_id")))
        if message is None or not message.is_from_bot:
            return self.refuse("that message is gone")
        if data not in {b.get("callback_data") for b in message.buttons}:
            return self.refuse("that button is not there any more")
        query_id = await self.demo.sandbox.user_presses(user, message, data)
        self.answer({"ok": True, "query_id": query_id})


class TimeHandler(_Base):
    """Move the demo clock: {"minutes": 60} or {"next": true}."""

    def post(self) -> None:
        body = self.body()
        clock = self.demo.clock
        assert clock is not None
        if body.get("next"):
            due = clock.to_next_event()
            if due is None:
                return self.answer(
                    {
                        "ok": True,
                        "moved": False,
                        "clock": self.demo.publish_clock(force=True),
                        "note": "Nothing is scheduled yet.",
                    }
                )
            return self.answer(
                {
                    "ok": True,
                    "moved": True,
                    "due": due.isoformat(),
                    "clock": self.demo.publish_clock(force=True),
                }
            )
        minutes = _int(body.get("minutes"))
        delta = timedelta(minutes=minutes)
        if not timedelta() < delta <= MAX_ADVANCE:
            return self.refuse("minutes must be between 1 and 44640")
        clock.advance(delta)
        self.answer({"ok": True, "moved": True, "clock": self.demo.publish_clock(force=True)})


class LanguageHandler(_Base):
    """Everyone's Telegram language: {"language": "de"}."""

    def post(self) -> None:
        world = self.demo.world
        assert world is not None
        try:
            world.set_language(str(self.body().get("language", "")))
        except LookupError as error:
            return self.refuse(str(error))
        self.answer({"ok": True, "language": world.language})


class FileHandler(_Base):
    """A document the bot sent (e.g. /export), downloaded from the page."""

    def get(self, chat_key: str, message_id: str) -> None:
        world = self.demo.world
        assert world is not None
        if chat_key not in world.chats:
            raise tornado.web.HTTPError(404)
        message = world.message(chat_key, int(message_id))
        if message is None or message.document is None:
            raise tornado.web.HTTPError(404)
        document = message.document
        name = (document.file_name or "file").replace('"', "")
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        self.finish(document.data)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise tornado.web.HTTPError(400, "expected a number") from None


def make_app(demo: Demo) -> tornado.web.Application:
    args = {"demo": demo}
    return tornado.web.Application(
        [
            (r"/", PageHandler, args),
            (r"/static/(.*)", StaticHandler, {"path": str(STATIC)}),
            (r"/api/state", StateHandler, args),
            (r"/api/events", EventsHandler, args),
            (r"/api/send", SendHandler, args),
            (r"/api/press", PressHandler, args),
            (r"/api/time", TimeHandler, args),
            (r"/api/language", LanguageHandler, args),
            (r"/api/file/(\w+)/(\d+)", FileHandler, args),
        ],
        log_function=lambda handler: None,
    )


# ---------------------------------------------------------------------- run


async def run(options: Options) -> int:
    demo = Demo(options)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, demo.stopping.set)
    try:
        try:
            await demo.start()
        except DemoError as error:
            print(f"mend demo: {error.line}", file=sys.stderr, flush=True)
            return error.code
        if not demo.stopping.is_set():
            print(f"Mend demo: open {demo.url} (Ctrl-C stops it)", flush=True)
            await demo.stopping.wait()
    finally:
        await demo.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
    return demo.exit_code
