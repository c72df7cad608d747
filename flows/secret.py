"""Encryption at rest for intimate text (answers, promises, repair notes).

When a data key is configured, columns typed `SecretText` are stored as Fernet tokens
with an `enc1:` prefix; without a key they are stored as plain text behind a `pln1:`
prefix. Every stored value says which it is, so a text that happens to start with `enc1:`
(a promise, a first name) is never taken for a token. Values written before the markers
existed carry none and read as plain (migration 0007 marks them). Reading accepts both,
so a key can be introduced on a running database, and several keys (`DATA_KEY=new,old`)
let old rows be read while new ones are written with the first.
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Column, Connection, MetaData, Table, select, type_coerce, update
from sqlalchemy import Text as SAText
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

PREFIX = "enc1:"
PLAIN = "pln1:"


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
        return PLAIN + plain
    return PREFIX + _keyring.fernet.encrypt(plain.encode()).decode()


def unseal(stored: str) -> str:
    if stored.startswith(PLAIN):
        return stored[len(PLAIN) :]
    if not stored.startswith(PREFIX):
        return stored  # written before values were marked: plain
    if _keyring.fernet is None:
        raise DataKeyError("stored text is encrypted but DATA_KEY is not set")
    try:
        return _keyring.fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
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

    def coerce_compared_value(self, op: Any, value: Any) -> Any:
        """A literal compared with the column (`!= ""`, `contains(...)`) is compared with
        what is stored, unsealed: sealing it would add a marker or a fresh token that no
        stored value equals."""
        return SAText()


# ---- the stored data as a whole: start-up check, finding unreadable rows, rotation ---------


def secret_columns(metadata: MetaData) -> list[tuple[Table, Column[Any]]]:
    """Every `SecretText` column of every table, in a stable order."""
    return [
        (table, column)
        for table in metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, SecretText)
    ]


def _row_id(table: Table, row: Any) -> str:
    return ",".join(str(row[index]) for index in range(len(table.primary_key.columns)))


def check_data_key(connection: Connection, metadata: MetaData) -> None:
    """Open one encrypted value of each secret column, if there is one.

    Raises DataKeyError naming the table and row when the configured key cannot read
    data that is already stored (a wrong key, or DATA_KEY missing): better to stop at
    start-up than to fail on the first couple who writes.
    """
    for table, column in secret_columns(metadata):
        raw = type_coerce(column, SAText())
        query = select(*table.primary_key.columns, raw).where(raw.like(PREFIX + "%")).limit(1)
        row = connection.execute(query).first()
        if row is None:
            continue
        try:
            unseal(row[-1])
        except DataKeyError as exc:
            raise DataKeyError(f"{exc} (table {table.name}, row {_row_id(table, row)})") from None


def unreadable_rows(
    connection: Connection, metadata: MetaData, limit: int = 20
) -> list[tuple[str, str]]:
    """(table, row id) of stored text the configured key cannot open, at most `limit`."""
    found: list[tuple[str, str]] = []
    for table, column in secret_columns(metadata):
        raw = type_coerce(column, SAText())
        query = select(*table.primary_key.columns, raw).where(raw.like(PREFIX + "%"))
        for row in connection.execute(query):
            try:
                unseal(row[-1])
            except DataKeyError:
                found.append((table.name, _row_id(table, row)))
                if len(found) >= limit:
                    return found
    return found


def rotate_stored_text(connection: Connection, metadata: MetaData) -> int:
    """Rewrite every secret value with the first key of DATA_KEY; returns how many.

    Any key of DATA_KEY opens the old value; writing seals it with the first key. Plain
    values (stored before a key was set) are encrypted on the way. The bot may be running:
    each value is written back only where it is still the value that was read
    (compare-and-set), so a row deleted or changed meanwhile (a /forget, an answer edited)
    is left as the bot left it, never brought back.
    """
    if _keyring.fernet is None:
        raise DataKeyError("DATA_KEY is not set: there is no key to rotate to")
    rewritten = 0
    for table, column in secret_columns(metadata):
        raw = type_coerce(column, SAText())
        keys = list(table.primary_key.columns)
        rows = connection.execute(select(*keys, raw).where(raw.is_not(None))).all()
        for row in rows:
            rewritten += _rewrite(connection, table, column, row)
    return rewritten


def _rewrite(connection: Connection, table: Table, column: Column[Any], row: Any) -> int:
    """One value, sealed with the first key, if it is still what was read: 1 or 0."""
    old = row[-1]
    new = seal(unseal(old))
    raw = type_coerce(column, SAText())
    match = [key == row[index] for index, key in enumerate(table.primary_key.columns)]
    result = connection.execute(
        update(table).where(*match, raw == old).values({column.name: type_coerce(new, SAText())})
    )
    return int(result.rowcount)
