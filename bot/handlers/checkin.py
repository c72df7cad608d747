"""The weekly check-in in Telegram: /checkin (schedule, now, off, on) and /checkins.

Answers arrive through the shared text handler (private messages and replies to the
bot's questions) and buttons through the shared button handler; the rules are in
flows/checkin.py.
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import BaseHandler

from bot.shell import command
from flows import checkin


def handlers() -> list[BaseHandler[Update, Any, Any]]:
    return [
        command("checkin", checkin.checkin),
        command("checkins", checkin.history),
    ]
