"""`mend` (also `python -m bot`): run the bot, try the demo, and the tools a host needs.

Running the bot and rotating the key stay in `bot.__main__`; this module only parses the
command line and adds the host's checks (`check`, `backup`). Output here is for the person
hosting Mend, so it is plain English, not the couple's catalogue.

Exit codes: 0 done or healthy; 1 `check` found something wrong or `backup` failed;
2 the configuration (or the command line) is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from bot import __version__

UNHEALTHY = 1
MISCONFIGURED = 2


class Unhealthy(Exception):
    """One line saying what is wrong, and the exit code to leave with."""

    def __init__(self, line: str, code: int = UNHEALTHY) -> None:
        super().__init__(line)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mend",
        description="Mend, a Telegram bot for couples. Settings come from the environment "
        "or a .env file in the working directory (README, Configuration).",
        epilog="Exit codes: 0 fine; 1 check or backup found a problem; 2 a setting is "
        "missing or malformed.",
    )
    parser.add_argument("--version", action="version", version=f"mend {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "run",
        help="run the bot (the default)",
        description="Run the bot: long polling, or a webhook when "
        "WEBHOOK_URL is set. Migrates the database first.",
    )
    # The demo has its own options (`mend demo --help`), so it parses them itself.
    commands.add_parser(
        "demo", add_help=False, help="try Mend in a browser, without Telegram or a token"
    )
    commands.add_parser(
        "keygen",
        help="print a new DATA_KEY",
        description="Print a new key for DATA_KEY (README, Encryption).",
    )
    commands.add_parser(
        "rotate-key",
        help="re-encrypt stored text with the first DATA_KEY",
        description="Rewrite every stored secret with the first key of "
        "DATA_KEY=new,old (README, Encryption).",
    )
    check = commands.add_parser(
        "check",
        help="is this installation healthy? (for health checks)",
        description="Check that the configuration is valid, the database reachable, its "
        "schema current, DATA_KEY opens what is stored and Telegram accepts "
        "BOT_TOKEN. Prints one line; exit 0 when healthy, non-zero otherwise.",
    )
    check.add_argument(
        "--running",
        action="store_true",
        help="also require a heartbeat from a running bot on this host in the last 2 minutes",
    )
    backup = commands.add_parser(
        "backup",
        help="copy the SQLite database, safely while the bot runs",
        description="Make a consistent copy of the SQLite database, even while the bot "
        "runs. For PostgreSQL it prints the pg_dump line to use instead.",
    )
    backup.add_argument(
        "path",
        type=Path,
        help="file to write (replaced if it exists), or a directory to "
        "write mend-YYYYMMDD-HHMMSS.db into",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args, rest = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    command = args.command or "run"
    if rest and command != "demo":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if command == "run":
            from bot.__main__ import run

            run()
        elif command == "demo":
            from demo import main as demo_main

            demo_main(rest)
        elif command == "keygen":
            from flows.secret import generate_key

            print(generate_key())
        elif command == "rotate-key":
            from bot.__main__ import rotate_key

            rotate_key()
        elif command == "check":
            print(f"mend: healthy: {check(running=args.running)}")
        elif command == "backup":
            print(f"mend: {backup(args.path)}")
    except Unhealthy as problem:
        _leave(str(problem), problem.code)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "psycopg":
            raise
        _leave(
            "DATABASE_URL is PostgreSQL but its driver is not installed: "
            "pip install 'mend-bot[postgres]'",
            MISCONFIGURED,
        )


def _leave(line: str, code: int) -> NoReturn:
    print(f"mend: {line}", file=sys.stderr)
    raise SystemExit(code)


# ---- mend check -----------------------------------------------------------------------


def check(*, running: bool = False) -> str:
    """Every condition the bot needs to start and work; the first that fails is raised."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError
    from sqlmodel import SQLModel

    from bot.config import load_settings
    from bot.db import make_engine
    from flows.features import load_all
    from flows.secret import DataKeyError, check_data_key, configure_data_key

    settings = load_settings()  # a bad setting: one line and exit 2, as at start-up
    try:
        configure_data_key(settings.DATA_KEY.get_secret_value() if settings.DATA_KEY else None)
    except DataKeyError:
        raise Unhealthy(
            "DATA_KEY is malformed: generate one with: mend keygen", MISCONFIGURED
        ) from None
    url = make_url(settings.DATABASE_URL)
    where = url.render_as_string(hide_password=True)
    # Connecting to a missing SQLite file would create an empty one; a health check must not.
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        raise Unhealthy(
            f"no database at {url.database}: `mend run` creates it "
            "(or set DATABASE_URL to the bot's database)"
        )
    load_all()
    engine = make_engine(settings.DATABASE_URL)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            schema = _schema_state(connection, settings.DATABASE_URL)
            try:
                check_data_key(connection, SQLModel.metadata)
            except DataKeyError as exc:
                raise Unhealthy(
                    f"{exc}: set DATA_KEY to the key the data was written with (README, Encryption)"
                ) from None
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise Unhealthy(f"the database is not reachable ({where}): {reason}") from None
    heartbeat = _heartbeat_age(engine) if running else None
    engine.dispose()
    username = asyncio.run(_get_me(settings.token, settings.TELEGRAM_API_URL))
    parts = [
        f"database {where}",
        schema,
        "DATA_KEY opens the stored text" if settings.DATA_KEY else "DATA_KEY not set",
        f"Telegram accepts the token of @{username}",
    ]
    if heartbeat is not None:
        parts.append(f"last heartbeat {heartbeat} s ago")
    return ", ".join(parts)


def _schema_state(connection: object, database_url: str) -> str:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from bot.db import alembic_config

    script = ScriptDirectory.from_config(alembic_config(database_url))
    expected = set(script.get_heads())
    current = set(MigrationContext.configure(connection).get_current_heads())  # type: ignore[arg-type]
    if current == expected:
        return f"schema current ({len(expected)} heads)"
    if not current:
        raise Unhealthy("the database has no Mend schema yet: `mend run` creates it at start-up")
    for revision in sorted(current):
        try:
            script.get_revision(revision)
        except CommandError:
            raise Unhealthy(
                f"the database schema ({revision}) is newer than this Mend "
                f"{__version__}: upgrade Mend"
            ) from None
    missing = ", ".join(sorted(expected - current))
    raise Unhealthy(
        f"the database schema is not current (missing {missing}): "
        "`mend run` migrates it at start-up"
    )


def _heartbeat_age(engine: object) -> int:
    from bot.health import STALE_AFTER, last_heartbeat, this_host, wall_clock

    beat = last_heartbeat(engine)  # type: ignore[arg-type]
    if beat is None:
        raise Unhealthy(
            f"no heartbeat from a bot on this host ({this_host()}): is `mend run` running here?"
        )
    age = wall_clock() - beat
    if age > STALE_AFTER:
        raise Unhealthy(
            f"the bot on this host ({this_host()}) last swept "
            f"{int(age.total_seconds())} s ago (more than "
            f"{int(STALE_AFTER.total_seconds())} s): it is stuck or stopped"
        )
    return max(0, int(age.total_seconds()))


async def _get_me(token: str, api_url: str) -> str:
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError, TelegramError

    def safe(exc: BaseException) -> str:
        # An HTTP library's message may quote the URL, and the URL holds the token.
        return str(exc).replace(token, "<BOT_TOKEN>") or type(exc).__name__

    bot = Bot(token, base_url=f"{api_url}/bot", base_file_url=f"{api_url}/file/bot")
    try:
        async with bot:
            return bot.username
    except InvalidToken:
        raise Unhealthy(
            "Telegram does not accept BOT_TOKEN (getMe): copy the token BotFather gave you"
        ) from None
    except NetworkError as exc:
        raise Unhealthy(f"Telegram is not reachable at {api_url}: {safe(exc)}") from None
    except TelegramError as exc:
        raise Unhealthy(f"getMe failed: {safe(exc)}") from None


# ---- mend backup ----------------------------------------------------------------------


def backup(path: Path) -> str:
    """Copy the SQLite database with sqlite3's online backup API; a PG URL gets pg_dump."""
    from sqlalchemy.engine import make_url

    from bot.config import load_settings

    settings = load_settings()
    url = make_url(settings.DATABASE_URL)
    if url.get_backend_name() != "sqlite":
        libpq = url.set(drivername="postgresql").render_as_string(hide_password=True)
        raise Unhealthy(
            "DATABASE_URL is PostgreSQL: back it up with pg_dump instead, e.g. "
            f"pg_dump --format=custom --file={path} '{libpq}' (your password where *** "
            "is, or in ~/.pgpass; README, Backups)",
            MISCONFIGURED,
        )
    source = Path(url.database or "")
    if not source.is_file():
        raise Unhealthy(f"no database at {source}: nothing to back up")
    target = path / f"mend-{datetime.now(UTC):%Y%m%d-%H%M%S}.db" if path.is_dir() else path
    if target.resolve() == source.resolve():
        raise Unhealthy(f"{target} is the database itself: choose another path")
    size = copy_sqlite(source, target)
    key = (
        "it holds text encrypted with DATA_KEY: keep the key apart from the backup, and "
        "for as long as the backup"
        if settings.DATA_KEY
        else "DATA_KEY is not set, so the text in it is plain: keep it private"
    )
    return f"backed up {source} to {target} ({size} bytes); {key}"


def copy_sqlite(source: Path, target: Path) -> int:
    """A consistent copy while other connections write: one snapshot, checked, then renamed.

    The copy is written beside the target and renamed into place only once SQLite's
    integrity check passes, so an interrupted backup never leaves a half file under the
    target's name. The copy is switched out of WAL mode so it is one self-contained file.
    """
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        with (
            contextlib.closing(sqlite3.connect(source, timeout=30)) as live,
            contextlib.closing(sqlite3.connect(partial)) as copy,
        ):
            live.backup(copy)  # all pages in one step: one consistent snapshot
            copy.execute("PRAGMA journal_mode=DELETE")
            verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise Unhealthy(f"the copy failed SQLite's integrity check: {verdict}")
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise Unhealthy(f"the backup failed: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return target.stat().st_size
