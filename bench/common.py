"""What every benchmark shares: databases, seeding, bot processes and /proc figures.

Benchmarks run the real `python -m bot` (or the bare echo bot) as a subprocess against the
local Bot API server in `sandbox/`, which runs in the benchmark's own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, text

from bot.clock import OffsetFileClock
from bot.db import make_engine, migrate
from flows.models import Couple, Partner
from sandbox import BotApiSandbox, SimChat, SimUser
from sandbox.testing import TEST_TOKEN

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
POSTGRES_ADMIN = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
NOW = datetime.now(UTC).replace(microsecond=0)


# ------------------------------------------------------------------------------ the machine


def machine() -> str:
    """One line naming the machine, for RESULTS.md."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f", {int(line.split()[1]) // 1024 // 1024} GB RAM"
    return (
        f"{os.cpu_count()} cores ({model}){memory}, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


# ------------------------------------------------------------------------------ /proc


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc/<pid>/stat."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw.rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    """Resident memory (VmRSS) of a process in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL server process on this machine (the database's share)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        if raw.split("(", 1)[1].split(")", 1)[0] == "postgres":
            fields = raw.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def own_cpu_seconds() -> float:
    """CPU time of this benchmark process (the sandbox and the simulated users)."""
    usage = os.times()
    return usage.user + usage.system


# ------------------------------------------------------------------------------ databases


@contextlib.contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[str]:
    """An empty database, migrated to the newest schema: a SQLite file or a new PostgreSQL
    database on the local server (dropped afterwards)."""
    if backend == "sqlite":
        path = workdir / "mend.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
        _migrate(url)
        yield url
        return
    if backend != "postgres":
        raise SystemExit(f"unknown backend {backend!r}: use sqlite or postgres")
    admin = make_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"mend_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{POSTGRES_ADMIN.rsplit('/', 1)[0]}/{name}"
    try:
        _migrate(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _migrate(url: str) -> None:
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()


# ------------------------------------------------------------------------------ seeding


@dataclass
class SeededCouple:
    couple_id: int
    chat_id: int
    user_ids: tuple[int, int]
    partner_ids: tuple[int, int]


def seed_couples(
    engine: Engine,
    chats: Sequence[tuple[int, int, int]],
    *,
    private_open: bool = False,
    timezone: str = "UTC",
) -> list[SeededCouple]:
    """Formed couples, straight into the database: one per (group chat id, user a, user b).

    Ids are given explicitly (after the largest existing one) so partners and timers can
    point at them without a round trip per row."""
    with engine.begin() as connection:
        first_couple = (connection.execute(text("SELECT max(id) FROM couple")).scalar() or 0) + 1
        first_partner = (connection.execute(text("SELECT max(id) FROM partner")).scalar() or 0) + 1
    seeded: list[SeededCouple] = []
    couples: list[dict[str, Any]] = []
    partners: list[dict[str, Any]] = []
    for index, (chat_id, user_a, user_b) in enumerate(chats):
        couple_id = first_couple + index
        pa, pb = first_partner + 2 * index, first_partner + 2 * index + 1
        couples.append(
            dict(
                id=couple_id,
                group_chat_id=chat_id,
                title=f"Couple {couple_id}",
                timezone=timezone,
                language="en",
                group_reachable=True,
                created_at=NOW,
                formed_at=NOW,
            )
        )
        for partner_id, user_id, name in ((pa, user_a, "Ana"), (pb, user_b, "Ben")):
            partners.append(
                dict(
                    id=partner_id,
                    couple_id=couple_id,
                    user_id=user_id,
                    first_name=name,
                    timezone=None,
                    language="en",
                    private_open=private_open,
                    private_blocked=False,
                    joined_at=NOW,
                    last_active_at=NOW,
                )
            )
        seeded.append(SeededCouple(couple_id, chat_id, (user_a, user_b), (pa, pb)))
    insert_rows(engine, Couple, couples)
    insert_rows(engine, Partner, partners)
    fix_sequences(engine, ("couple", "partner"))
    return seeded


def timer_row(
    couple_id: int,
    kind: str,
    due_at: datetime,
    *,
    payload: dict[str, Any] | None = None,
    ref: str | None = None,
) -> dict[str, Any]:
    return dict(
        couple_id=couple_id,
        kind=kind,
        ref=ref,
        due_at=due_at,
        payload=json.dumps(payload or {}),
        state="pending",
        attempts=0,
        claimed_at=None,
        created_at=NOW,
        finished_at=None,
    )


def insert_rows(
    engine: Engine, model: Any, rows: Sequence[dict[str, Any]], chunk: int = 5000
) -> None:
    """Bulk insert through SQLAlchemy Core (one executemany per chunk)."""
    table = model.__table__
    with engine.begin() as connection:
        for start in range(0, len(rows), chunk):
            connection.execute(insert(table), list(rows[start : start + chunk]))


def fix_sequences(engine: Engine, tables: Sequence[str]) -> None:
    """After inserting explicit ids on PostgreSQL, move the id sequences past them."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as connection:
        for table in tables:
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"coalesce((SELECT max(id) FROM {table}), 1))"
                )
            )


def analyze(engine: Engine) -> None:
    """Fresh planner statistics after a bulk load (what autovacuum would do soon anyway)."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        else:
            connection.execute(text("ANALYZE"))
            connection.commit()


def sandbox_couples(sandbox: BotApiSandbox, count: int) -> list[tuple[SimChat, SimUser, SimUser]]:
    """`count` groups of two people with the bot already in them (no welcome: the couples are
    seeded as formed, so the my_chat_member updates of a real join are skipped)."""
    made = []
    for index in range(count):
        ana = sandbox.add_user(f"Ana{index}", None)
        ben = sandbox.add_user(f"Ben{index}", None)
        group = sandbox.create_group(f"Couple {index}", [ana, ben])
        group.bot_status = "member"
        made.append((group, ana, ben))
    return made


# ------------------------------------------------------------------------------ processes


class BotProcess:
    """A bot subprocess (Mend or the echo bot) against the sandbox, with its figures."""

    def __init__(
        self,
        sandbox: BotApiSandbox,
        workdir: Path,
        *,
        command: Sequence[str],
        database_url: str = "",
        name: str = "bot",
        clock: Path | None = None,
        **env: str,
    ) -> None:
        self.sandbox = sandbox
        self.workdir = workdir
        self.command = list(command)
        self.name = name
        self.clock = OffsetFileClock(clock or workdir / f"{name}.clock")
        self.log_path = workdir / f"{name}.log"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("BOT_", "DATABASE_", "WEBHOOK_", "DATA_KEY", "MEND_"))
        }
        self.env.update(
            BOT_TOKEN=TEST_TOKEN,
            TELEGRAM_API_URL=sandbox.url,
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        if clock is not None:  # time can be moved forward; production reads the system clock
            self.env["MEND_CLOCK_FILE"] = str(self.clock.path)
        if database_url:
            self.env["DATABASE_URL"] = database_url
        self.env.update(env)
        self.process: subprocess.Popen[bytes] | None = None
        self.ready_seconds = 0.0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, *, ready_call: str = "getUpdates", timeout: float = 120.0) -> float:
        """Start and wait until the bot makes `ready_call` (its first long poll, or its
        setWebhook); returns seconds from process start until then."""
        calls_before = self.sandbox.calls[ready_call]
        log = self.log_path.open("ab")
        started = time.monotonic()
        self.process = subprocess.Popen(
            self.command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.sandbox.calls[ready_call] <= calls_before:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.logs()[-3000:]}"
                )
            if loop.time() > deadline:
                raise TimeoutError(f"{self.name} did not get ready:\n{self.logs()[-3000:]}")
            await asyncio.sleep(0.005)
        self.ready_seconds = time.monotonic() - started
        return self.ready_seconds

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def profile(self, output: Path) -> None:
        """Sample this process with py-spy (installed in the venv, not a dependency) until
        it stops; writes collapsed stacks (`bench/profile.py` summarises them)."""
        spy = Path(PYTHON).with_name("py-spy")
        self._spy = subprocess.Popen(
            [
                str(spy),
                "record",
                "--pid",
                str(self.pid),
                "--format",
                "raw",
                "--rate",
                "250",
                "--output",
                str(output),
                "--nonblocking",
                # Only the thread holding the GIL: where the CPU goes, not who waits for it.
                "--gil",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def end_profile(self) -> None:
        spy = getattr(self, "_spy", None)
        if spy is not None and spy.poll() is None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)

    def rss(self) -> float:
        return rss_mb(self.pid)

    async def stop(self, timeout: float = 20.0) -> None:
        await self._end(signal.SIGTERM, timeout)

    async def kill(self) -> None:
        await self._end(signal.SIGKILL, 10.0)

    async def _end(self, sig: signal.Signals, timeout: float) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                break
            await asyncio.sleep(0.05)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def errors(self) -> list[str]:
        """Log lines at ERROR or above (and tracebacks), to print with the figures."""
        return [
            line
            for line in self.logs().splitlines()
            if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")
        ]


def mend_command() -> list[str]:
    return [PYTHON, "-m", "bot"]


def workdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"mend-{prefix}-"))


def later(**delta: float) -> datetime:
    return NOW + timedelta(**delta)


# ------------------------------------------------------------------------------ output


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A small Markdown table (what RESULTS.md and the terminal both show)."""
    cells = [[str(c) for c in header], *[[_fmt(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def quiet_sandbox_logs() -> None:
    import logging

    logging.getLogger("sandbox").setLevel(logging.WARNING)
    logging.getLogger("tornado").setLevel(logging.ERROR)
