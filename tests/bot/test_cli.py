"""The host's command line: `mend check` says in one line what is wrong, `mend backup`
copies a live SQLite database consistently, and `python -m bot` takes the same commands."""

from __future__ import annotations

import asyncio
import configparser
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from bot import __version__
from bot.clock import FixedClock
from bot.db import make_engine, migrate, session_scope
from bot.delivery.models import Outbox
from bot.health import (
    BEAT_EVERY,
    STALE_AFTER,
    HeartbeatWriter,
    last_heartbeat,
    this_host,
    wall_clock,
    write_heartbeat,
)
from bot.runtime import Runtime
from flows.secret import configure_data_key, generate_key
from sandbox import BotApiSandbox
from sandbox.testing import TEST_TOKEN, running_sandbox
from tests.helpers import T0

REPO = Path(__file__).resolve().parents[2]
SETTINGS = {
    "BOT_TOKEN",
    "DATABASE_URL",
    "WEBHOOK_URL",
    "WEBHOOK_SECRET",
    "DEFAULT_TIMEZONE",
    "DATA_KEY",
    "LOG_LEVEL",
    "TELEGRAM_API_URL",
}


def mend(
    cwd: Path, *args: str, pythonpath: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` in an empty directory (no .env), with only the given settings."""
    clean = {key: value for key, value in os.environ.items() if key not in SETTINGS}
    clean.update(env)
    clean["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, str(REPO)]))
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def amend(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`mend` from a test that also serves the Bot API: the loop must keep answering."""
    return await asyncio.to_thread(mend, cwd, *args, **env)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
async def sandbox() -> AsyncIterator[BotApiSandbox]:
    async with running_sandbox() as running:
        yield running


@pytest.fixture
def bot_database(tmp_path: Path) -> str:
    """A migrated SQLite database, as the bot leaves it after its first start."""
    url = f"sqlite:///{tmp_path / 'mend.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return url


def healthy_env(sandbox: BotApiSandbox, url: str) -> dict[str, str]:
    return {"BOT_TOKEN": TEST_TOKEN, "DATABASE_URL": url, "TELEGRAM_API_URL": sandbox.url}


@pytest.mark.subprocess
def test_version_and_help_need_no_settings(tmp_path: Path) -> None:
    version = mend(tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"mend {__version__}"
    helped = mend(tmp_path, "--help")
    assert helped.returncode == 0
    for command in ("run", "demo", "keygen", "rotate-key", "check", "backup"):
        assert command in helped.stdout


@pytest.mark.subprocess
def test_an_unknown_command_is_refused_with_exit_2(tmp_path: Path) -> None:
    result = mend(tmp_path, "serve")
    assert result.returncode == 2 and "invalid choice" in result.stderr


@pytest.mark.subprocess
def test_keygen_prints_a_key_that_data_key_accepts(tmp_path: Path) -> None:
    result = mend(tmp_path, "keygen")
    assert result.returncode == 0
    configure_data_key(result.stdout.strip())
    configure_data_key(None)


@pytest.mark.subprocess
def test_check_without_a_token_says_so_and_exits_2(tmp_path: Path) -> None:
    result = mend(tmp_path, "check")
    assert result.returncode == 2
    assert "BOT_TOKEN is missing" in one_line(result)


@pytest.mark.subprocess
def test_check_does_not_create_a_missing_sqlite_database(tmp_path: Path) -> None:
    result = mend(tmp_path, "check", BOT_TOKEN=TEST_TOKEN)
    assert result.returncode == 1
    assert "no database at mend.db" in one_line(result)
    assert not (tmp_path / "mend.db").exists()


@pytest.mark.subprocess
def test_check_finds_a_database_without_the_schema(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "mend.db").close()
    result = mend(tmp_path, "check", BOT_TOKEN=TEST_TOKEN)
    assert result.returncode == 1
    assert "no Mend schema yet" in one_line(result)


@pytest.mark.subprocess
def test_check_finds_a_schema_behind_the_code(tmp_path: Path, bot_database: str) -> None:
    engine = make_engine(bot_database)
    with engine.begin() as connection:
        connection.execute(
            text("DELETE FROM alembic_version WHERE version_num = '0007_selfhost_heartbeat'")
        )
    engine.dispose()
    result = mend(tmp_path, "check", BOT_TOKEN=TEST_TOKEN, DATABASE_URL=bot_database)
    assert result.returncode == 1
    assert "not current (missing 0007_selfhost_heartbeat)" in one_line(result)


@pytest.mark.subprocess
def test_check_finds_a_schema_newer_than_the_code(tmp_path: Path, bot_database: str) -> None:
    engine = make_engine(bot_database)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO alembic_version VALUES ('0099_from_the_future')"))
    engine.dispose()
    result = mend(tmp_path, "check", BOT_TOKEN=TEST_TOKEN, DATABASE_URL=bot_database)
    assert result.returncode == 1
    assert "newer than this Mend" in one_line(result)


@pytest.mark.subprocess
def test_check_finds_an_unreachable_database(tmp_path: Path) -> None:
    result = mend(
        tmp_path,
        "check",
        BOT_TOKEN=TEST_TOKEN,
        DATABASE_URL="postgresql://mend:hunter2@127.0.0.1:9/mend",
    )
    assert result.returncode == 1
    line = one_line(result)
    assert "database is not reachable" in line and "127.0.0.1:9" in line
    assert "hunter2" not in result.stderr + result.stdout


@pytest.mark.subprocess
def test_check_finds_a_data_key_that_does_not_open_the_stored_text(
    tmp_path: Path, bot_database: str
) -> None:
    written_with = generate_key()
    configure_data_key(written_with)
    try:
        with session_scope(make_engine(bot_database)) as session:
            session.add(Outbox(chat_id=1, body="we need to talk", created_at=T0))
    finally:
        configure_data_key(None)
    result = mend(
        tmp_path, "check", BOT_TOKEN=TEST_TOKEN, DATABASE_URL=bot_database, DATA_KEY=generate_key()
    )
    assert result.returncode == 1
    line = one_line(result)
    assert "does not open with DATA_KEY" in line and "outbox" in line
    assert "talk" not in result.stderr
    malformed = mend(
        tmp_path, "check", BOT_TOKEN=TEST_TOKEN, DATABASE_URL=bot_database, DATA_KEY="short"
    )
    assert malformed.returncode == 2 and "DATA_KEY is malformed" in one_line(malformed)


@pytest.mark.subprocess
def test_check_finds_telegram_unreachable_without_showing_the_token(
    tmp_path: Path, bot_database: str
) -> None:
    result = mend(
        tmp_path,
        "check",
        BOT_TOKEN=TEST_TOKEN,
        DATABASE_URL=bot_database,
        TELEGRAM_API_URL="http://127.0.0.1:9",
    )
    assert result.returncode == 1
    assert "Telegram is not reachable at http://127.0.0.1:9" in one_line(result)
    assert TEST_TOKEN.split(":")[1] not in result.stderr + result.stdout


@pytest.mark.subprocess
async def test_check_finds_a_token_telegram_rejects(
    tmp_path: Path, bot_database: str, sandbox: BotApiSandbox
) -> None:
    sandbox.fail_next("getMe", error_code=401, description="Unauthorized")
    result = await amend(tmp_path, "check", **healthy_env(sandbox, bot_database))
    assert result.returncode == 1
    assert "Telegram does not accept BOT_TOKEN" in one_line(result)


@pytest.mark.subprocess
async def test_check_of_a_healthy_installation_exits_0(
    tmp_path: Path, bot_database: str, sandbox: BotApiSandbox
) -> None:
    result = await amend(tmp_path, "check", **healthy_env(sandbox, bot_database))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("mend: healthy:") and "schema current" in result.stdout
    assert sandbox.calls["getMe"] == 1


@pytest.mark.subprocess
async def test_check_running_wants_a_heartbeat_from_the_last_two_minutes(
    tmp_path: Path, bot_database: str, sandbox: BotApiSandbox
) -> None:
    env = healthy_env(sandbox, bot_database)
    never = await amend(tmp_path, "check", "--running", **env)
    assert never.returncode == 1 and "no heartbeat from a bot on this host" in one_line(never)

    engine = make_engine(bot_database)
    write_heartbeat(engine, this_host(), wall_clock() - timedelta(minutes=3))
    stale = await amend(tmp_path, "check", "--running", **env)
    assert stale.returncode == 1 and "it is stuck or stopped" in one_line(stale)

    written = wall_clock()
    write_heartbeat(engine, this_host(), written - timedelta(seconds=20))
    fresh = await amend(tmp_path, "check", "--running", **env)
    assert fresh.returncode == 0, fresh.stderr
    # 20 s, plus however long the check took to start on a busy machine.
    age = re.search(r"last heartbeat (\d+) s ago", fresh.stdout)
    assert age is not None, fresh.stdout
    assert 20 <= int(age[1]) <= 20 + (wall_clock() - written).total_seconds() + 1

    write_heartbeat(engine, "another-host", wall_clock())
    write_heartbeat(engine, this_host(), wall_clock() - timedelta(minutes=5))
    other = await amend(tmp_path, "check", "--running", **env)
    assert other.returncode == 1, "another host's bot does not speak for this one"
    engine.dispose()


def test_the_heartbeat_is_stamped_at_most_every_ten_seconds(bot_database: str) -> None:
    engine = make_engine(bot_database)
    writer = HeartbeatWriter(engine, "here")
    writer.beat()
    first = last_heartbeat(engine, "here")
    assert first is not None and wall_clock() - first < timedelta(seconds=5)
    writer.beat()
    assert last_heartbeat(engine, "here") == first
    assert writer.last is not None
    writer.last -= timedelta(seconds=11)
    writer.beat()
    second = last_heartbeat(engine, "here")
    assert second is not None and second > first
    engine.dispose()


def test_hosts_silent_for_a_week_are_forgotten(bot_database: str) -> None:
    engine = make_engine(bot_database)
    write_heartbeat(engine, "gone", wall_clock() - timedelta(days=8))
    write_heartbeat(engine, "here", wall_clock())
    assert last_heartbeat(engine, "gone") is None
    assert last_heartbeat(engine, "here") is not None
    engine.dispose()


@pytest.mark.subprocess
def test_backup_copies_a_database_that_is_being_written(tmp_path: Path, bot_database: str) -> None:
    """Every commit writes two rows; a consistent copy never holds half of one."""
    engine = make_engine(bot_database)
    stop = threading.Event()

    def keep_writing() -> None:
        n = 0
        while not stop.is_set():
            with engine.begin() as connection:
                for _ in range(2):
                    n += 1
                    connection.execute(
                        text(
                            "INSERT INTO outbox (chat_id, body, state, attempts, created_at) "
                            "VALUES (:chat, 'x', 'sent', 0, '2026-11-25 18:00:00')"
                        ),
                        {"chat": n},
                    )

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        result = mend(
            tmp_path,
            "backup",
            str(tmp_path / "copy.db"),
            BOT_TOKEN=TEST_TOKEN,
            DATABASE_URL=bot_database,
        )
    finally:
        stop.set()
        writer.join()
    assert result.returncode == 0, result.stderr
    assert "backed up" in result.stdout and "DATA_KEY is not set" in result.stdout
    copy = sqlite3.connect(tmp_path / "copy.db")
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        rows = copy.execute("SELECT count(*) FROM outbox").fetchone()[0]
        assert rows % 2 == 0
        heads = {row[0] for row in copy.execute("SELECT version_num FROM alembic_version")}
        assert "0007_selfhost_heartbeat" in heads
    finally:
        copy.close()
    engine.dispose()
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.subprocess
def test_backup_into_a_directory_names_the_copy_by_time(tmp_path: Path, bot_database: str) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    result = mend(
        tmp_path,
        "backup",
        str(folder),
        BOT_TOKEN=TEST_TOKEN,
        DATABASE_URL=bot_database,
        DATA_KEY=generate_key(),
    )
    assert result.returncode == 0, result.stderr
    assert "keep the key apart from the backup" in result.stdout
    (copy,) = folder.glob("mend-*.db")
    assert sqlite3.connect(copy).execute("SELECT count(*) FROM couple").fetchone()[0] == 0


@pytest.mark.subprocess
def test_backup_refuses_to_overwrite_the_database_itself(tmp_path: Path, bot_database: str) -> None:
    result = mend(tmp_path, "backup", "mend.db", BOT_TOKEN=TEST_TOKEN, DATABASE_URL=bot_database)
    assert result.returncode == 1 and "is the database itself" in one_line(result)


@pytest.mark.subprocess
def test_backup_of_postgresql_points_to_pg_dump_without_the_password(tmp_path: Path) -> None:
    result = mend(
        tmp_path,
        "backup",
        "mend.dump",
        BOT_TOKEN=TEST_TOKEN,
        DATABASE_URL="postgresql://mend:hunter2@db.example.org/mend",
    )
    assert result.returncode == 2
    line = one_line(result)
    assert (
        "pg_dump --format=custom --file=mend.dump 'postgresql://mend:***@db.example.org/mend'"
        in line
    )
    assert "hunter2" not in result.stderr + result.stdout


@pytest.fixture
def without_psycopg(tmp_path: Path) -> str:
    """A PYTHONPATH entry that makes `import psycopg` fail, as on a SQLite-only install."""
    shadow = tmp_path / "no-psycopg"
    (shadow / "psycopg").mkdir(parents=True)
    (shadow / "psycopg" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'psycopg'\", name='psycopg')\n"
    )
    return str(shadow)


@pytest.mark.subprocess
async def test_a_sqlite_only_install_needs_no_postgresql_driver(
    tmp_path: Path, bot_database: str, sandbox: BotApiSandbox, without_psycopg: str
) -> None:
    env = healthy_env(sandbox, bot_database)
    result = await asyncio.to_thread(mend, tmp_path, "check", pythonpath=without_psycopg, **env)
    assert result.returncode == 0, result.stderr
    imports = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", "import psycopg"],
        env=os.environ | {"PYTHONPATH": without_psycopg},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imports.returncode != 0, "the shadow must really hide psycopg"


@pytest.mark.subprocess
def test_a_postgresql_url_without_its_driver_says_what_to_install(
    tmp_path: Path, without_psycopg: str
) -> None:
    result = mend(
        tmp_path,
        "check",
        pythonpath=without_psycopg,
        BOT_TOKEN=TEST_TOKEN,
        DATABASE_URL="postgresql://mend@127.0.0.1/mend",
    )
    assert result.returncode == 2
    assert "pip install 'mend-bot[postgres]'" in one_line(result)


async def test_a_sweep_stamps_this_hosts_heartbeat_in_wall_clock_time(bot_database: str) -> None:
    """The demo moves the bot's clock forward; liveness is measured in real minutes."""
    engine = make_engine(bot_database)
    runtime = Runtime(engine, FixedClock(T0 + timedelta(days=30)))
    await runtime.sweep()
    beat = last_heartbeat(engine)
    assert beat is not None and abs(wall_clock() - beat) < timedelta(seconds=5)
    engine.dispose()


@pytest.fixture
def systemd_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """What systemd listens on for a Type=notify service (an abstract socket here)."""
    name = f"mend-test-{uuid.uuid4().hex}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind("\0" + name)
    listener.settimeout(1.0)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    yield listener
    listener.close()


def test_each_heartbeat_tells_systemd_the_bot_is_ready_and_alive(
    bot_database: str, systemd_socket: socket.socket
) -> None:
    engine = make_engine(bot_database)
    HeartbeatWriter(engine, "here").beat()
    assert systemd_socket.recv(256) == b"READY=1\nWATCHDOG=1"
    engine.dispose()


def test_a_heartbeat_that_could_not_be_written_does_not_feed_the_watchdog(
    tmp_path: Path, systemd_socket: socket.socket
) -> None:
    sqlite3.connect(tmp_path / "empty.db").close()  # no heartbeat table: the stamp fails
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    HeartbeatWriter(engine, "here").beat()
    with pytest.raises(TimeoutError):
        systemd_socket.recv(256)
    engine.dispose()


def test_the_systemd_unit_restarts_a_bot_whose_heartbeat_stops() -> None:
    """contrib/mend.service and the heartbeat must agree, or systemd kills a healthy bot."""
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(REPO / "contrib" / "mend.service")
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert service["ExecStart"].endswith("/mend run")
    assert service["ExecStartPost"].endswith("/mend check --running")
    assert service["Restart"] == "on-failure" and service["RestartPreventExitStatus"] == "2"
    watchdog = timedelta(seconds=int(service["WatchdogSec"]))
    assert watchdog >= STALE_AFTER > BEAT_EVERY + timedelta(seconds=30)  # a sweep every 30 s
