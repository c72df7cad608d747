"""The application factory: settings, database, engine and handlers wired together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from sqlalchemy import Engine as Database
from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    Update,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    BaseHandler,
    CallbackContext,
    CommandHandler,
    Defaults,
    Job,
)

from bot import shell
from bot.clock import Clock, OffsetFileClock
from bot.config import Settings
from bot.drainer import ChatOrderedProcessor, InboxDrainer, InboxQueue
from bot.handlers import members, onboarding, promises
from bot.inbox import InboxStore
from bot.runtime import REQUEST_GOES_OUT, Runtime
from bot.shared import CONTEXT_TYPES, shared
from bot.texts import FALLBACK, languages, menu, render, set_bot_username
from flows.feature import Registry
from flows.features import load_all
from flows.outcome import Text
from flows.policy import Policy

log = logging.getLogger(__name__)

# The Telegram handlers a feature's plain `commands` cannot describe, explicit: they need
# Telegram itself (member counts, chat_member updates, a group's migration) or a setting
# (the promise cap). Everything else is built from `flows.features.FEATURES`.
SPECIAL_HANDLERS = (
    onboarding.handlers,  # the bot added or removed, a group migrated, /start
    members.handlers,  # someone joined or left the group
    promises.handlers,  # /promise and the "when?" buttons (PROMISE_CAP)
)

Ctx = CallbackContext[Any, Any, Any, Any]
MIN_WAKE_DELAY = 0.5
# A stop: running handlers may finish within this many seconds, sends under way within
# the second figure; the process is gone well within 10 s even with a long backlog.
HANDLERS_GRACE = 5.0
SENDING_GRACE = 2.0
# A wake-up or sweep that could not run on time (the process was suspended, the clock
# stepped) runs as soon as it can, once, instead of being dropped as "missed".
ALWAYS_RUN: dict[str, Any] = {"misfire_grace_time": None, "coalesce": True}
# Tests and the demo only (MEND_CLOCK_FILE): how often the clock file is looked at.
FOLLOW_CLOCK_SECONDS = 0.2


class Wakeups:
    """One job for the earliest pending timer, plus the periodic sweep.

    APScheduler is only the alarm clock; the timer rows are the truth.
    """

    def __init__(
        self, application: Application[Any, Any, Any, Any, Any, Any], runtime: Runtime, clock: Clock
    ) -> None:
        self.application = application
        self.runtime = runtime
        self.clock = clock
        self.job: Job[Any] | None = None
        self.at: datetime | None = None
        self._offset: timedelta | None = None

    async def _wake(self, context: Ctx) -> None:
        # The one-shot job has run: it no longer exists in the scheduler.
        self.job, self.at = None, None
        await self._sweep(context)

    async def _sweep(self, _context: Ctx) -> None:
        await self.runtime.sweep()
        self.schedule(await asyncio.to_thread(self.runtime.earliest_pending), replace=True)

    def schedule(self, when: datetime | None, *, replace: bool = False) -> None:
        """Wake at `when`, unless an earlier wake-up is already set (or `replace`)."""
        if when is None:
            return
        if not replace and self.job is not None and self.at is not None and self.at <= when:
            return
        if self.job is not None:
            with contextlib.suppress(JobLookupError):
                self.job.schedule_removal()
            self.job = None
        # Never sooner than a moment from now: a due row the sweep could not take (another
        # process holds it) must not turn the wake-up into a busy loop.
        delay = max(MIN_WAKE_DELAY, (when - self.clock.now()).total_seconds())
        job_queue = self.application.job_queue
        assert job_queue is not None
        self.job = job_queue.run_once(
            self._wake, when=delay, name="mend-next-timer", job_kwargs=ALWAYS_RUN
        )
        self.at = when

    def start(self, every: float) -> None:
        """The periodic sweep. Timers that fell due while the bot was down are handled by
        the sweep at start-up (`sweep_now`), before updates are fetched."""
        job_queue = self.application.job_queue
        assert job_queue is not None
        job_queue.run_repeating(
            self._sweep, interval=every, first=every, name="mend-sweep", job_kwargs=ALWAYS_RUN
        )
        if isinstance(self.clock, OffsetFileClock):
            job_queue.run_repeating(
                self._follow_clock, interval=FOLLOW_CLOCK_SECONDS, name="mend-follow-clock"
            )

    async def sweep_now(self) -> None:
        await self.runtime.sweep()
        self.schedule(await asyncio.to_thread(self.runtime.earliest_pending), replace=True)

    async def _follow_clock(self, _context: Ctx) -> None:
        """Tests and the demo only: time moved through the clock file.

        The wake-up job waits in real seconds, so a clock that jumps hours ahead would leave
        it waiting hours. Re-arm the same wake-up (`self.at`, the earliest timer the alarm was
        told about) against the moved clock; which timer is next stays the alarm's business,
        so a timer the alarm never heard of still waits for the sweep, as in production.
        """
        if not isinstance(self.clock, OffsetFileClock):
            return
        offset = self.clock.offset
        if offset == self._offset:
            return
        self._offset = offset
        if self.at is not None:
            self.schedule(self.at, replace=True)


class TelegramLimits(AIORateLimiter):
    """AIORateLimiter that also says when a request actually leaves (after its waits), so a
    stop can give back a message that was still waiting on a limit instead of losing it."""

    async def process_request(
        self,
        callback: Any,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        async def goes_out(*call_args: Any, **call_kwargs: Any) -> Any:
            report = REQUEST_GOES_OUT.get()
            if report is not None:
                report()
            return await callback(*call_args, **call_kwargs)

        return await super().process_request(
            goes_out, args, kwargs, endpoint, data, rate_limit_args
        )


def telegram_limits() -> AIORateLimiter:
    """About 30 messages a second overall and at most 20 a minute in any one group.

    AIORateLimiter's buckets let their whole size through at once and then refill
    evenly, so PTB's default group bucket (20 per 60 s) can pass up to 40 in one sliding
    minute (bench/RESULTS.md measured 30). A bucket of 10 refilled one every 6 s passes at
    most 10 + 10 = 20 in any 60 s, and still lets a burst of 10 through at once (a pause
    being agreed, a check-in opening), which is more than two people need in a minute.
    """
    return TelegramLimits(max_retries=3, group_max_rate=10, group_time_period=60)


def build_application(
    settings: Settings, database: Database, clock: Clock
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The whole wiring: Telegram application, engine, handlers, start-up work."""
    claim_timeout = settings.MEND_CLAIM_TIMEOUT_SECONDS
    runtime = Runtime(
        database,
        clock,
        sweep_seconds=settings.MEND_SWEEP_SECONDS,
        claim_timeout=timedelta(seconds=claim_timeout) if claim_timeout else None,
    )
    api = settings.TELEGRAM_API_URL
    queue = InboxQueue()
    builder = (
        Application.builder()
        .token(settings.token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .defaults(Defaults(tzinfo=UTC))
        .context_types(CONTEXT_TYPES)
        # Polling and the webhook write to the inbox; the drainer hands updates to the
        # handlers, chats side by side, one chat's in order.
        .update_queue(queue)
        .concurrent_updates(ChatOrderedProcessor(settings.CONCURRENT_UPDATES))
    )
    application: Application[Any, Any, Any, Any, Any, Any]
    if settings.MEND_RATE_LIMIT:
        application = builder.rate_limiter(telegram_limits()).build()
        runtime.limiter_reports_requests = True
    else:
        log.warning("MEND_RATE_LIMIT=off: no rate limiter (benchmarks against a local server only)")
        application = builder.build()
    store = InboxStore(
        database, clock, claim_timeout=timedelta(seconds=claim_timeout) if claim_timeout else None
    )
    drainer = InboxDrainer(application, store, settings.CONCURRENT_UPDATES)
    queue.store = store
    queue.drainer = drainer
    wakeups = Wakeups(application, runtime, clock)
    data = shared(application)
    data.policy = Policy(
        default_timezone=settings.DEFAULT_TIMEZONE, promise_cap=settings.PROMISE_CAP
    )
    data.sweep_seconds = settings.MEND_SWEEP_SECONDS
    data.runtime, data.inbox, data.wakeups = runtime, drainer, wakeups
    runtime.on_new_timer = wakeups.schedule
    for handler in telegram_handlers(load_all()):
        application.add_handler(handler)
    application.add_error_handler(_on_error)
    return application


def telegram_handlers(registry: Registry) -> list[BaseHandler[Update, Any, Any]]:
    """Every Telegram handler, in the order they are tried: the special cases, one
    /command per feature command, then the shared button and text handlers (which reach
    each feature through the registry). A command claimed twice is refused."""
    handlers = [handler for special in SPECIAL_HANDLERS for handler in special()]
    special = {
        name
        for handler in handlers
        if isinstance(handler, CommandHandler)
        for name in handler.commands
    }
    twice = special & set(registry.commands)
    if twice:
        owners = [feature.name for feature in registry.features if twice & set(feature.commands)]
        raise ValueError(
            f"command(s) {sorted(twice)} of feature(s) {owners} are also "
            "wired in bot/app.py SPECIAL_HANDLERS"
        )
    handlers += [shell.command(name, flow) for name, flow in registry.commands.items()]
    return [*handlers, *shell.text_handlers()]


async def start_up(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """After `initialize` and `start`, before updates are fetched: the command menus, a
    sweep for timers that fell due while the bot was down, then what waits in the inbox."""
    data = shared(application)
    data.runtime.bot = application.bot
    set_bot_username(application.bot.username)
    # English is every chat's default menu; each other catalogue adds its own by language code.
    for language in languages():
        code = None if language == FALLBACK else language.split("_")[0]
        await application.bot.set_my_commands(
            [BotCommand(name, about) for name, about in menu("group", language)],
            scope=BotCommandScopeAllGroupChats(),
            language_code=code,
        )
        await application.bot.set_my_commands(
            [BotCommand(name, about) for name, about in menu("private", language)],
            scope=BotCommandScopeAllPrivateChats(),
            language_code=code,
        )
        # What a person sees before the first message (the empty chat, the profile, a link).
        await application.bot.set_my_description(
            render(Text("about.description"), language), language_code=code
        )
        await application.bot.set_my_short_description(
            render(Text("about.short_description"), language), language_code=code
        )
    await data.wakeups.sweep_now()
    data.wakeups.start(data.sweep_seconds)
    await data.inbox.start()
    log.info("Mend is ready as @%s", application.bot.username)


async def shut_down(
    application: Application[Any, Any, Any, Any, Any, Any],
    *,
    handlers_grace: float = HANDLERS_GRACE,
    sending_grace: float = SENDING_GRACE,
) -> None:
    """After fetching stopped: running handlers get `handlers_grace` seconds, sends under
    way `sending_grace`; whatever is left waits in the inbox and the outbox."""
    data = shared(application)
    await data.inbox.stop(handlers_grace)
    await data.runtime.stop(sending_grace)


async def _on_error(update: object, context: Ctx) -> None:
    # Never the update itself: it carries what people wrote.
    log.error("an update failed: %s", type(context.error).__name__, exc_info=context.error)
