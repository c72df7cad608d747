"""Pause in Telegram: /pause starts a break (or shows the one that is on), /back ends it,
/pauses shows recent ones. Buttons and return times are handled by the shared shell."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import BaseHandler

from bot.shell import command
from flows import pause


def handlers() -> list[BaseHandler[Update, Any, Any]]:
    return [
        command("pause", pause.pause),
        command("back", pause.back),
        command("pauses", pause.history),
    ]
