"""/language in Telegram: the person's own language in private, the couple's in a group."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import BaseHandler

from bot.shell import command
from flows import language


def handlers() -> list[BaseHandler[Update, Any, Any]]:
    return [command("language", language.choose)]
