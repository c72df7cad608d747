"""The database: engine, sessions, and migrations applied at start-up."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, event
from sqlmodel import Session, SQLModel, create_engine

# The delivery layer's tables (outbox, timers) join the metadata wherever a database is.
import bot.delivery.models  # noqa: F401
from flows.secret import DataKeyError, unreadable_rows

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(url: str, *, pool_size: int = 5, **options: Any) -> Engine:
    """An engine for SQLite (WAL, one writer, waits on locks) or PostgreSQL (a pool of
    `pool_size` connections: one per thread that does database work).

    SQLite has one writer at a time. Each transaction starts with `BEGIN IMMEDIATE`, so
    it waits for the writer lock up front (busy timeout 30 s) instead of failing half-way
    when a read turns into a write; within a process, transactions also take turns on a
    lock (`session_scope`), which is quicker than SQLite's sleeping busy handler.

    `hide_parameters`: a database error must not carry what a partner wrote into the log.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            hide_parameters=True,
            **options,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # The driver's own transaction handling off: `begin` below says when.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        _writers[engine] = threading.RLock()
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=5,
        hide_parameters=True,
        **options,
    )


# SQLite engines: the lock their transactions take turns on, within this process.
_writers: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()


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


# A session's `info` key for the rows it loaded, held for as long as the transaction.
LOADED = "mend_loaded"


@event.listens_for(Session, "loaded_as_persistent")
def _hold_loaded(session: Session, instance: object) -> None:
    """Keep every row a transaction loaded until it ends. The session's identity map only
    holds rows weakly: a couple a flow looked up and let go was dropped, and the next
    `session.get` of it (persist, the next rule) asked the database again, four times
    an update."""
    loaded = session.info.get(LOADED)
    if loaded is not None:
        loaded.append(instance)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on error."""
    writer = _writers.get(engine)
    with (
        writer if writer is not None else nullcontext(),
        Session(engine, expire_on_commit=False, info={LOADED: []}) as session,
    ):
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


@contextmanager
def connection_scope(engine: Engine) -> Iterator[Connection]:
    """One transaction on a plain connection, for the Core statements of the update path
    (store, claim, mark done, mark sent): no ORM session to build and tear down each
    time. Same writer lock and error handling as `session_scope`."""
    writer = _writers.get(engine)
    with writer if writer is not None else nullcontext():
        try:
            with engine.begin() as connection:
                yield connection
        except DataKeyError:
            report_unreadable(engine)
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
    log.error(
        "stored text does not open with DATA_KEY: %s; check DATA_KEY "
        "(README, Encryption). Nothing was shown to the couple.",
        where,
    )
