"""Settings from the environment (and an optional `.env`), checked before anything starts.

A missing or malformed value stops `python -m bot` with one line naming it and how to fix it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TOKEN_HELP = "set BOT_TOKEN to the token BotFather gave you (it looks like 123456789:AA...)"

HOW_TO_FIX = {
    "BOT_TOKEN": TOKEN_HELP,
    "DATABASE_URL": "use sqlite:///mend.db or postgresql+psycopg://user:pass@host/db",
    "TELEGRAM_API_URL": "use the server root, e.g. https://api.telegram.org",
    "WEBHOOK_URL": "use the public https URL Telegram should post updates to",
    "WEBHOOK_SECRET": "set WEBHOOK_SECRET to 1-256 characters of A-Z, a-z, 0-9, _ and -",
    "WEBHOOK_PORT": "use a port number between 1 and 65535",
    "DEFAULT_TIMEZONE": "use an IANA time zone name such as Europe/Berlin or UTC",
    "DATA_KEY": "generate one with: python -m bot keygen",
    "LOG_LEVEL": "use one of DEBUG, INFO, WARNING, ERROR",
    "PROMISE_CAP": "use a whole number from 1 to 10",
    "CONCURRENT_UPDATES": "use a whole number from 1 to 256",
    "MEND_RATE_LIMIT": "use on or off (off only against a local Bot API server)",
    "MEND_CLAIM_TIMEOUT_SECONDS": "use a positive number of seconds, or leave it unset",
}


class Settings(BaseSettings):
    """Everything Mend reads from its environment."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    BOT_TOKEN: SecretStr
    DATABASE_URL: str = "sqlite:///mend.db"
    TELEGRAM_API_URL: str = "https://api.telegram.org"
    WEBHOOK_URL: str | None = None
    WEBHOOK_SECRET: SecretStr | None = None
    WEBHOOK_PORT: int = Field(default=8443, ge=1, le=65535)
    DEFAULT_TIMEZONE: str = "UTC"
    DATA_KEY: SecretStr | None = None
    LOG_LEVEL: str = "INFO"
    PROMISE_CAP: int = Field(default=3, ge=1, le=10)
    # Updates handled at once (each of a different chat; one chat's run one after another).
    CONCURRENT_UPDATES: int = Field(default=16, ge=1, le=256)
    # Knobs for tests and the local demo, not for production: a file holding a clock offset
    # in seconds (so time can be moved forward) and how often the safety-net sweep runs.
    MEND_CLOCK_FILE: Path | None = None
    MEND_SWEEP_SECONDS: float = Field(default=30.0, gt=0)
    # Benchmarks only (bench/README.md): `off` lifts the rate limiter, for a local Bot API
    # server that has no limits; never against Telegram. And a shorter claim timeout for timers
    # and messages, so a benchmark sees a survivor take over a killed process's work sooner.
    MEND_RATE_LIMIT: bool = True
    MEND_CLAIM_TIMEOUT_SECONDS: float | None = Field(default=None, gt=0)

    @field_validator("BOT_TOKEN")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        head, _, tail = raw.partition(":")
        if not (head.isdigit() and len(tail) >= 8):
            raise ValueError("malformed")
        return value

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value.startswith("postgres://"):
            value = "postgresql://" + value.removeprefix("postgres://")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        if not value.startswith(("sqlite:///", "postgresql+psycopg://")):
            raise ValueError("unsupported")
        return value

    @field_validator("TELEGRAM_API_URL", "WEBHOOK_URL")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("not a URL")
        return value.rstrip("/")

    @field_validator("DEFAULT_TIMEZONE")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown zone") from exc
        return value

    @field_validator("LOG_LEVEL")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("unknown level")
        return value

    @field_validator("WEBHOOK_SECRET")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if not (1 <= len(raw) <= 256) or not all(c.isalnum() or c in "_-" for c in raw):
            raise ValueError("bad characters")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.WEBHOOK_URL and self.WEBHOOK_SECRET is None:
            raise ValueError("WEBHOOK_SECRET")
        return self

    @property
    def token(self) -> str:
        return self.BOT_TOKEN.get_secret_value()

    @property
    def webhook_mode(self) -> bool:
        return bool(self.WEBHOOK_URL)


def _exit_with(line: str) -> NoReturn:
    print(f"mend: {line}", file=sys.stderr)
    raise SystemExit(2)


def load_settings() -> Settings:
    """Read settings, or stop the process with exit code 2 and one line saying what to fix."""
    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        if not name and "WEBHOOK_SECRET" in str(error.get("msg", "")):
            _exit_with(
                "WEBHOOK_SECRET is required when WEBHOOK_URL is set: "
                + HOW_TO_FIX["WEBHOOK_SECRET"]
            )
        problem = "is missing" if error["type"] == "missing" else "is malformed"
        _exit_with(f"{name} {problem}: {HOW_TO_FIX.get(name, 'check its value')}")
