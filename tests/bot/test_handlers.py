"""Every command in the menus has a Telegram handler, built from the feature list."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlmodel import Session
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.app import telegram_handlers
from bot.texts import menu
from flows.couples import Actor
from flows.feature import Feature, Registry
from flows.features import FEATURES, load_all
from flows.outcome import Effects


def _commands(registry: Registry) -> list[str]:
    return [
        name
        for handler in telegram_handlers(registry)
        if isinstance(handler, CommandHandler)
        for name in handler.commands
    ]


def test_every_command_in_the_menus_has_exactly_one_handler() -> None:
    names = _commands(load_all())
    assert len(names) == len(set(names))
    for scope in ("group", "private"):
        listed = [name for name, _about in menu(scope)]
        assert listed and set(listed) <= set(names), scope


def test_every_feature_command_becomes_a_handler_and_buttons_come_last() -> None:
    registry = load_all()
    handlers = telegram_handlers(registry)
    assert set(registry.commands) <= set(_commands(registry))
    # The shared button handler (no pattern) must come after the "when?" one.
    patterns = [h.pattern for h in handlers if isinstance(h, CallbackQueryHandler)]
    assert patterns[-1] is None and None not in patterns[:-1]


def test_a_feature_command_also_wired_as_a_special_case_is_refused() -> None:
    def start(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
        return []

    doubled = Registry.build([*FEATURES, Feature(name="restarter", commands={"start": start})])
    with pytest.raises(ValueError, match=r"start.*restarter"):
        telegram_handlers(doubled)
