"""`python -m bot` (or `mend`) runs Mend; `rotate-key` re-encrypts stored text with the first
key of DATA_KEY. The other commands and the parsing live in `bot.cli`."""

from __future__ import annotations

import logging
import sys

from sqlalchemy import Engine
from sqlmodel import SQLModel

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
        print("mend: DATA_KEY is malformed: generate one with: python -m bot keygen",
              file=sys.stderr)
        raise SystemExit(2) from None
    database = make_engine(settings.DATABASE_URL)
    migrate(database)
    load_all()
    try:
        with database.connect() as connection:
            check_data_key(connection, SQLModel.metadata)
    except DataKeyError as exc:
        print(f"mend: {exc}: set DATA_KEY to the key the data was written with "
              "(README, Encryption)", file=sys.stderr)
        raise SystemExit(2) from None
    return database


def run() -> None:
    settings = load_settings()
    setup_logging(settings.LOG_LEVEL, settings.token)
    if settings.DATA_KEY is None:
        log.warning("DATA_KEY is not set: answers and promises are stored unencrypted")
    clock: Clock = OffsetFileClock(settings.MEND_CLOCK_FILE) if settings.MEND_CLOCK_FILE \
        else SystemClock()
    database = _open_database(settings)

    from bot.app import build_application

    application = build_application(settings, database, clock)
    allowed = ["message", "callback_query", "my_chat_member"]
    if settings.webhook_mode:
        assert settings.WEBHOOK_URL is not None and settings.WEBHOOK_SECRET is not None
        path = settings.WEBHOOK_URL.split("://", 1)[1].partition("/")[2]
        application.run_webhook(
            listen="0.0.0.0",
            port=settings.WEBHOOK_PORT,
            url_path=path,
            webhook_url=settings.WEBHOOK_URL,
            secret_token=settings.WEBHOOK_SECRET.get_secret_value(),
            allowed_updates=allowed,
        )
    else:
        application.run_polling(allowed_updates=allowed, poll_interval=0.0, timeout=10)
    log.info("Mend stopped")


def rotate_key() -> None:
    """Re-encrypt every stored secret with the first key of DATA_KEY ("new,old")."""
    settings = load_settings()
    setup_logging(settings.LOG_LEVEL, settings.token)
    if settings.DATA_KEY is None:
        print("mend: DATA_KEY is not set: put the new key first, e.g. DATA_KEY=new,old",
              file=sys.stderr)
        raise SystemExit(2)
    database = _open_database(settings)
    with database.begin() as connection:
        count = rotate_stored_text(connection, SQLModel.metadata)
    print(f"mend: {count} stored texts now use the first key of DATA_KEY; "
          "the other keys can be removed")


def main() -> None:
    # The command line (run, demo, keygen, rotate-key, check, backup) is bot.cli, the
    # `mend` command; `python -m bot` takes the same commands.
    from bot.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
