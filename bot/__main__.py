"""`python -m bot` runs Mend; `demo` opens the local demo; `keygen` makes a DATA_KEY."""

from __future__ import annotations

import logging
import sys

from bot.clock import Clock, OffsetFileClock, SystemClock
from bot.config import load_settings
from bot.db import make_engine, migrate
from bot.logs import setup_logging
from flows.secret import DataKeyError, configure_data_key, generate_key

log = logging.getLogger("bot")


def run() -> None:
    settings = load_settings()
    setup_logging(settings.LOG_LEVEL, settings.token)
    try:
        configure_data_key(settings.DATA_KEY.get_secret_value() if settings.DATA_KEY else None)
    except DataKeyError:
        print("mend: DATA_KEY is malformed: generate one with: python -m bot keygen",
              file=sys.stderr)
        raise SystemExit(2) from None
    if settings.DATA_KEY is None:
        log.warning("DATA_KEY is not set: answers and promises are stored unencrypted")
    clock: Clock = OffsetFileClock(settings.MEND_CLOCK_FILE) if settings.MEND_CLOCK_FILE \
        else SystemClock()
    database = make_engine(settings.DATABASE_URL)
    migrate(database)

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


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "run"
    if command == "keygen":
        print(generate_key())
    elif command == "demo":
        from bot.demo import main as demo_main

        demo_main(sys.argv[2:])
    elif command == "run":
        run()
    else:
        print(f"mend: unknown command {command!r}; use: python -m bot [run|demo|keygen]",
              file=sys.stderr)
        raise SystemExit(2)


if __name__ == "__main__":
    main()
