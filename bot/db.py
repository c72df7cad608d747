"""The database: engine, sessions, and migrations applied at start-up."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event
from sqlmodel import Session, SQLModel, create_engine

from flows.secret import DataKeyError, unreadable_rows

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for SQLite (WAL, waits on locks) or PostgreSQL."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **options
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, **options)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (all heads) before the bot starts."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")
    log.info("database schema is up to date")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except DataKeyError:
            session.rollback()
            report_unreadable(engine)
            raise
        except BaseException:
            session.rollback()
            raise


def report_unreadable(engine: Engine) -> None:
    """Stored text did not open with DATA_KEY: say loudly which rows, never what they hold.

    The flow that hit it is rolled back, so nothing half-read reaches a couple.
    """
    try:
        with engine.connect() as connection:
            rows = unreadable_rows(connection, SQLModel.metadata)
    except Exception:
        log.exception("stored text does not open with DATA_KEY, and finding the rows failed")
        return
    where = ", ".join(f"{table} row {row_id}" for table, row_id in rows) or "unknown rows"
    log.error("stored text does not open with DATA_KEY: %s; check DATA_KEY "
              "(docs/encryption.md). Nothing was shown to the couple.", where)
