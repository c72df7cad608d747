"""/export and /forget in Telegram; the confirmation button goes through the shared handler."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import BaseHandler

from bot.shell import command
from flows import data_rights


def handlers() -> list[BaseHandler[Update, Any, Any]]:
    return [
        command("export", data_rights.export),
        command("forget", data_rights.forget),
    ]
