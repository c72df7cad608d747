"""Logging that never carries the token or what a couple wrote."""

from __future__ import annotations

import logging
import sys

from telegram.error import InvalidToken

# Libraries whose debug (and, for httpx, info) output carries request URLs (with the token)
# or payloads (what people wrote): kept at WARNING whatever LOG_LEVEL says.
QUIET = ("httpx", "httpcore", "apscheduler", "tornado")
# python-telegram-bot logs every update in full at DEBUG ("Processing update …", the
# webhook's JSON): its whole logger tree stays at INFO or above.
TELEGRAM = "telegram"


class RedactingFormatter(logging.Formatter):
    """Replaces the token in the finished line: the message, its arguments, and the
    traceback (PTB puts the token into `InvalidToken`'s text, httpx into its URLs)."""

    def __init__(self, fmt: str, token: str) -> None:
        super().__init__(fmt)
        secret = token.split(":", 1)[1] if ":" in token else token
        # The whole token first, then its secret half alone (a URL may carry it escaped).
        self.secrets = [part for part in (token, secret) if part]

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        for secret in self.secrets:
            line = line.replace(secret, "<token>")
        return line


def _not_a_rejected_token(record: logging.LogRecord) -> bool:
    """PTB logs a rejected token with a long traceback before raising it; `python -m bot`
    then stops with one line that says what to check (exit code 2)."""
    return not (record.exc_info and isinstance(record.exc_info[1], InvalidToken))


def setup_logging(level: str, token: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_not_a_rejected_token)
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", token)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    wanted = logging.getLevelName(level)
    logging.getLogger(TELEGRAM).setLevel(max(wanted, logging.INFO))
    for noisy in QUIET:
        logging.getLogger(noisy).setLevel(max(wanted, logging.WARNING))
