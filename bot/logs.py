"""Logging that never carries the token or what a couple wrote."""

from __future__ import annotations

import logging
import sys


class RedactToken(logging.Filter):
    """Replaces the bot token wherever it would appear (httpx logs request URLs)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.token:
            return True
        message = record.getMessage()
        if self.token in message:
            record.msg = message.replace(self.token, "<token>")
            record.args = None
        return True


def setup_logging(level: str, token: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactToken(token))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL, and the URL carries the token; PTB's own debug
    # output includes request bodies, which carry message texts.
    for noisy in ("httpx", "httpcore", "apscheduler", "telegram.ext.ExtBot", "telegram.bot"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
