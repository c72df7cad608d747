"""Encryption at rest for intimate text (answers, promises, repair notes).

When a data key is configured, columns typed `SecretText` are stored as Fernet tokens
with an `enc1:` prefix; without a key they are stored as plain text. Reading accepts
both, so a key can be introduced on a running database, and several keys
(`DATA_KEY=new,old`) let old rows be read while new ones are written with the first.
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text as SAText
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

PREFIX = "enc1:"


class DataKeyError(RuntimeError):
    """Stored text cannot be read with the configured key(s)."""


class _Keyring:
    fernet: MultiFernet | None = None


_keyring = _Keyring()


def configure_data_key(keys: str | None) -> None:
    """Install the key(s) from DATA_KEY: one Fernet key, or several separated by commas."""
    if not keys:
        _keyring.fernet = None
        return
    parts = [part.strip() for part in keys.split(",") if part.strip()]
    try:
        _keyring.fernet = MultiFernet([Fernet(part.encode()) for part in parts])
    except (ValueError, TypeError) as exc:
        raise DataKeyError("DATA_KEY is not a valid key") from exc


def encryption_enabled() -> bool:
    return _keyring.fernet is not None


def seal(plain: str) -> str:
    if _keyring.fernet is None:
        return plain
    return PREFIX + _keyring.fernet.encrypt(plain.encode()).decode()


def unseal(stored: str) -> str:
    if not stored.startswith(PREFIX):
        return stored
    if _keyring.fernet is None:
        raise DataKeyError("stored text is encrypted but DATA_KEY is not set")
    try:
        return _keyring.fernet.decrypt(stored[len(PREFIX):].encode()).decode()
    except InvalidToken as exc:
        raise DataKeyError("stored text does not open with DATA_KEY") from exc


def generate_key() -> str:
    return Fernet.generate_key().decode()


class SecretText(TypeDecorator[str]):
    """A text column that is encrypted at rest when a data key is configured."""

    impl = SAText
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else seal(str(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else unseal(value)
