"""Shared fixtures: a migrated database (SQLite always, PostgreSQL when configured)."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from bot.db import make_engine, migrate
from flows.features import load_all

load_all()

# Every `python -m bot` a test starts imports this checkout, whichever checkout the virtual
# environment was installed from (a second worktree shares one venv).
ROOT = Path(__file__).resolve().parents[1]
os.environ["PYTHONPATH"] = os.pathsep.join(
    part for part in (str(ROOT), os.environ.get("PYTHONPATH", "")) if part
)

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
NO_POSTGRES = "TEST_DATABASE_URL is not set: PostgreSQL tests need a server (see README, Tests)"


def _postgres_url() -> str:
    url = POSTGRES_URL
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def fresh_postgres_database() -> str:
    """A new, empty database on the test server, so tests never see each other's rows."""
    admin = make_engine(_postgres_url(), isolation_level="AUTOCOMMIT")
    name = f"mend_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    base = _postgres_url().rsplit("/", 1)[0]
    return f"{base}/{name}"


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = make_engine(_postgres_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mend.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL on each backend: the storage and end-to-end tests run on both."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mend.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    url = fresh_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite database migrated to the newest schema, copied for each test that needs
    one: running every migration per test cost more than most of the tests themselves."""
    path = tmp_path_factory.mktemp("template") / "mend.db"
    database = make_engine(f"sqlite:///{path}")
    migrate(database)
    database.dispose()
    return path


def copy_sqlite(source: Path, url: str) -> None:
    """Copy a database with SQLite's own backup, so the copy is exactly what was stored."""
    target_path = url.removeprefix("sqlite:///")
    with (
        closing(sqlite3.connect(source)) as original,
        closing(sqlite3.connect(target_path)) as copy,
    ):
        original.backup(copy)


@pytest.fixture
def engine(sqlite_url: str, migrated_sqlite: Path) -> Iterator[Engine]:
    """A migrated SQLite database for flow tests."""
    copy_sqlite(migrated_sqlite, sqlite_url)
    database = make_engine(sqlite_url)
    yield database
    database.dispose()


@pytest.fixture
def any_engine(database_url: str, migrated_sqlite: Path) -> Iterator[Engine]:
    """A migrated database on each backend."""
    if database_url.startswith("sqlite"):
        copy_sqlite(migrated_sqlite, database_url)
        database = make_engine(database_url)
    else:
        database = make_engine(database_url)
        migrate(database)
    yield database
    database.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as db_session:
        yield db_session


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end tests first: they mostly wait (on Telegram's group limit, on timers), so
    started early they overlap with the CPU-bound rest instead of trailing after it."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)
