"""/thanks in Telegram: the command only; answers and buttons go through the shared handlers."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import BaseHandler

from bot.shell import command
from flows import thanks


def handlers() -> list[BaseHandler[Update, Any, Any]]:
    return [command("thanks", thanks.thanks)]
