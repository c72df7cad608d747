"""The end-to-end harness runs the bot as production would, whatever the developer's shell has."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import BotApiSandbox
from tests.e2e.harness import BotProcess


def test_the_bot_gets_production_settings_and_nothing_from_the_developers_environment(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "DEFAULT_TIMEZONE": "Asia/Tokyo",
        "PROMISE_CAP": "1",
        "LOG_LEVEL": "ERROR",
        "TELEGRAM_API_URL": "https://example.org",
        "MEND_SWEEP_SECONDS": "0.3",
        "MEND_RATE_LIMIT": "off",
        "DATA_KEY": "x",
        "WEBHOOK_URL": "https://example.org/hook",
    }.items():
        monkeypatch.setenv(name, value)
    process = BotProcess(BotApiSandbox(), "sqlite:///x.db", tmp_path)
    env = process.env()
    for name in (
        "DEFAULT_TIMEZONE",
        "PROMISE_CAP",
        "LOG_LEVEL",
        "MEND_SWEEP_SECONDS",
        "MEND_RATE_LIMIT",
        "DATA_KEY",
        "WEBHOOK_URL",
    ):
        assert name not in env, name
    assert env["TELEGRAM_API_URL"] == process.sandbox.url
    # The bot runs in the test's own directory, where no `.env` can be.
    assert process.workdir == tmp_path and not (tmp_path / ".env").exists()


def test_a_test_that_needs_a_knob_sets_it_itself(tmp_path: Path) -> None:
    process = BotProcess(BotApiSandbox(), "sqlite:///x.db", tmp_path, MEND_SWEEP_SECONDS="3600")
    assert process.env()["MEND_SWEEP_SECONDS"] == "3600"
