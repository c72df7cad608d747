"""`python -m bot` (or `mend`) runs Mend; `rotate-key` re-encrypts stored text with the first
key of DATA_KEY. The other commands and the parsing live in `bot.cli`."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine
from sqlmodel import SQLModel
from telegram.error import InvalidToken

from bot.clock import Clock, OffsetFileClock, SystemClock
from bot.config import Settings, load_settings
from bot.db import make_engine, migrate
from bot.logs import setup_logging
from flows.features import load_all
from flows.secret import (
    DataKeyError,
    check_data_key,
    configure_data_key,
    rotate_stored_text,
)

log = logging.getLogger("bot")


def _open_database(settings: Settings) -> Engine:
    """Key, schema and a check that the key opens what is already stored; exits on failure."""
    try:
        configure_data_key(settings.DATA_KEY.get_secret_value() if settings.DATA_KEY else None)
    except DataKeyError:
        print(
            "mend: DATA_KEY is malformed: generate one with: python -m bot keygen", file=sys.stderr
        )
        raise SystemExit(2) from None
    database = make_engine(settings.DATABASE_URL, pool_size=database_threads(settings))
    migrate(database)
    load_all()
    try:
        with database.connect() as connection:
            check_data_key(connection, SQLModel.metadata)
    except DataKeyError as exc:
        print(
            f"mend: {exc}: set DATA_KEY to the key the data was written with (README, Encryption)",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    return database


# After SIGTERM the process is gone within this many seconds, whatever it was doing: what
# was not handled waits in the inbox, what was not sent in the outbox.
STOP_DEADLINE = 9.0
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member", "chat_member"]


def database_threads(settings: Settings) -> int:
    """Threads for database work (and PostgreSQL connections): one per update in flight,
    plus the inbox, the outbox and the timers."""
    return settings.CONCURRENT_UPDATES + 4


async def serve(application: Any, settings: Settings) -> None:
    """Start, fetch updates until SIGTERM/SIGINT, then stop within STOP_DEADLINE seconds.

    Fetching stops first (every fetched update is already in the inbox); running handlers
    get a few seconds; the rest waits in the inbox for the next start.
    """
    from bot.app import shut_down, start_up

    loop = asyncio.get_running_loop()
    loop.set_default_executor(
        ThreadPoolExecutor(max_workers=database_threads(settings), thread_name_prefix="mend-db")
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await application.initialize()
    try:
        await application.start()
        await start_up(application)
        updater = application.updater
        if settings.webhook_mode:
            assert settings.WEBHOOK_URL is not None and settings.WEBHOOK_SECRET is not None
            path = settings.WEBHOOK_URL.split("://", 1)[1].partition("/")[2]
            await updater.start_webhook(
                listen="0.0.0.0",
                port=settings.WEBHOOK_PORT,
                url_path=path,
                webhook_url=settings.WEBHOOK_URL,
                secret_token=settings.WEBHOOK_SECRET.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            await updater.start_polling(
                allowed_updates=ALLOWED_UPDATES, poll_interval=0.0, timeout=10
            )
        await stop.wait()
        _exit_after(STOP_DEADLINE)
        log.info("Mend is stopping")
        await _within(updater.stop(), 2.0, "stopping the updater")
        await shut_down(application)
        await _within(application.stop(), 1.0, "stopping the application")
    finally:
        _exit_after(STOP_DEADLINE)
        await _within(application.shutdown(), 1.0, "closing the connection to Telegram")


async def _within(step: Any, seconds: float, what: str) -> None:
    try:
        await asyncio.wait_for(step, seconds)
    except TimeoutError:
        log.warning("%s took longer than %.0f s; going on", what, seconds)
    except Exception:
        log.exception("%s failed; going on", what)


_watchdog: list[threading.Timer] = []


def _exit_after(seconds: float) -> None:
    """A last resort: a thread stuck in a database call must not keep the process up."""
    if _watchdog:
        return
    timer = threading.Timer(seconds, _hard_exit)
    timer.daemon = True
    timer.start()
    _watchdog.append(timer)


def _hard_exit() -> None:
    log.warning("the stop took too long; exiting now (nothing is lost: see README)")
    logging.shutdown()
    os._exit(0)


def run() -> None:
    settings = load_settings()
    setup_logging(settings.LOG_LEVEL, settings.token)
    if settings.DATA_KEY is None:
        log.warning("DATA_KEY is not set: answers and promises are stored unencrypted")
    clock: Clock = (
        OffsetFileClock(settings.MEND_CLOCK_FILE) if settings.MEND_CLOCK_FILE else SystemClock()
    )
    database = _open_database(settings)

    from bot.app import build_application

    application = build_application(settings, database, clock)
    try:
        asyncio.run(serve(application, settings))
    except InvalidToken:
        # PTB's own message quotes the token; this line names the settings instead.
        print(
            "mend: BOT_TOKEN was rejected by the Bot API server at TELEGRAM_API_URL: "
            "check the token from BotFather and the server address",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    log.info("Mend stopped")


def rotate_key() -> None:
    """Re-encrypt every stored secret with the first key of DATA_KEY ("new,old")."""
    settings = load_settings()
    setup_logging(settings.LOG_LEVEL, settings.token)
    if settings.DATA_KEY is None:
        print(
            "mend: DATA_KEY is not set: put the new key first, e.g. DATA_KEY=new,old",
            file=sys.stderr,
        )
        raise SystemExit(2)
    database = _open_database(settings)
    with database.begin() as connection:
        count = rotate_stored_text(connection, SQLModel.metadata)
    print(
        f"mend: {count} stored texts now use the first key of DATA_KEY; "
        "the other keys can be removed"
    )


def main() -> None:
    # The command line (run, demo, keygen, rotate-key, check, backup) is bot.cli, the
    # `mend` command; `python -m bot` takes the same commands.
    from bot.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
