"""/safety in Telegram: resources in the private chat, a neutral pointer in a group."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import BaseHandler

from bot.shell import command
from flows import safety


def handlers() -> list[BaseHandler[Update, Any, Any]]:
    return [command("safety", safety.safety)]
