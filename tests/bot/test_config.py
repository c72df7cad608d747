"""A missing or malformed setting stops `python -m bot` with one clear line and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOOD_TOKEN = "123456789:AAtest-token-for-config"


def run_bot(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "BOT_TOKEN",
            "DATABASE_URL",
            "WEBHOOK_URL",
            "WEBHOOK_SECRET",
            "DEFAULT_TIMEZONE",
            "DATA_KEY",
            "LOG_LEVEL",
            "TELEGRAM_API_URL",
        }
    }
    clean.update(env)
    # Run from an empty directory so no .env file is picked up.
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=clean | {"PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "BOT_TOKEN is missing"),
        ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN is malformed"),
        (
            {"BOT_TOKEN": GOOD_TOKEN, "DEFAULT_TIMEZONE": "Mars/Base"},
            "DEFAULT_TIMEZONE is malformed",
        ),
        ({"BOT_TOKEN": GOOD_TOKEN, "DATABASE_URL": "mysql://x"}, "DATABASE_URL is malformed"),
        (
            {"BOT_TOKEN": GOOD_TOKEN, "TELEGRAM_API_URL": "localhost:8081"},
            "TELEGRAM_API_URL is malformed",
        ),
        ({"BOT_TOKEN": GOOD_TOKEN, "LOG_LEVEL": "LOUD"}, "LOG_LEVEL is malformed"),
        ({"BOT_TOKEN": GOOD_TOKEN, "WEBHOOK_PORT": "99999"}, "WEBHOOK_PORT is malformed"),
        (
            {"BOT_TOKEN": GOOD_TOKEN, "WEBHOOK_URL": "https://example.org/hook"},
            "WEBHOOK_SECRET is required",
        ),
        ({"BOT_TOKEN": GOOD_TOKEN, "DATA_KEY": "short"}, "DATA_KEY is malformed"),
    ],
)
def test_bad_settings_stop_the_bot_with_one_line_and_exit_2(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    result = run_bot(tmp_path, **env)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert GOOD_TOKEN not in result.stderr and GOOD_TOKEN not in result.stdout
