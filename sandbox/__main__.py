"""Run the sandbox standalone: ``python -m sandbox --port 8081``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal

from sandbox.transport import BotApiSandbox


def _print_event(event: dict[str, object]) -> None:
    print(json.dumps(event, ensure_ascii=False), flush=True)


async def _main(args: argparse.Namespace) -> None:
    sandbox = BotApiSandbox(host=args.host, port=args.port, bot_username=args.username)
    await sandbox.start()
    if args.events:
        sandbox.subscribe(_print_event)
    print(f"Bot API sandbox running at {sandbox.url}", flush=True)
    print(f"  TELEGRAM_API_URL={sandbox.url}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sandbox.stop()
        for violation in sandbox.violations:
            print(f"violation: {violation}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Local Telegram Bot API sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--username", default="mend_test_bot", help="the bot's username")
    parser.add_argument("--events", action="store_true", help="print message events as JSON")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args))


if __name__ == "__main__":
    main()
