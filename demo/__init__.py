"""`mend demo`: try Mend in a browser, without Telegram and without a token.

It runs the local Bot API server the tests use, the real bot against it, and a page on
http://127.0.0.1:8080 that shows the couple's group and both private chats with Mend.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mend demo",
        description="Try Mend in your browser: a pretend Telegram with Ana, Ben and Cleo, "
        "and the real bot.",
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="port of the demo page on 127.0.0.1 (default 8080)"
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start over: forget the demo database and the moved clock",
    )
    parser.add_argument(
        "--language",
        default="en",
        help="the Telegram language of Ana, Ben and Cleo, e.g. de "
        "(default en; the page can switch it too)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("demo-data"),
        help="where the demo database, clock and bot log live (default ./demo-data)",
    )
    return parser


def main(argv: list[str]) -> None:
    from demo.server import Options, run

    args = _parser().parse_args(argv)
    if not 0 < args.port < 65536:
        _parser().error("--port must be between 1 and 65535")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    options = Options(
        port=args.port, data_dir=args.data_dir, fresh=args.fresh, language=args.language
    )
    code = asyncio.run(run(options))
    if code:
        raise SystemExit(code)
