"""Benchmark 2: many couples, one process.

For each size (default 1,000 and 100,000 couples), a fresh database gets that many formed
couples, each with a weekly check-in timer and on average two recurring promise timers, all
pending in the coming week. Then:

- start-up: `python -m bot` from process start until its first long poll (median of a few
  starts), and its resident memory (VmRSS) once ready and after its first sweeps;
- one sweep with nothing due: the runtime's claim query (`Runtime._claim_timers`) and the
  earliest-pending query the wake-up job uses, timed in this process;
- one sweep with K due: K reminders made due, `Runtime.fire_due()` claims and handles them
  all (writing their outbox rows; sending is benchmark 3's business).

    python -m bench.scale                                  # 1,000 and 100,000, SQLite
    python -m bench.scale --backends sqlite postgres --sizes 1000 100000 --due 100 1000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from bench.common import (
    NOW,
    BotProcess,
    SeededCouple,
    analyze,
    fresh_database,
    insert_rows,
    machine,
    make_engine,
    mend_command,
    quiet_sandbox_logs,
    seed_couples,
    table,
    timer_row,
    workdir,
)
from bot.clock import SystemClock
from bot.delivery.models import Timer
from bot.runtime import Runtime
from flows.features import load_all
from flows.onboarding import INVITE_REMINDER
from sandbox import BotApiSandbox

TIMER_KINDS = load_all().timers


def kind_named(name: str, fallback: str) -> str:
    """The real timer kind of a feature once it is on main, else a stand-in name (pending
    rows of a kind nobody handles cost the claim query exactly the same)."""
    return name if name in TIMER_KINDS else fallback


CHECKIN_KIND = kind_named("checkin.start", "bench.checkin_weekly")
PROMISE_KIND = kind_named("promise.ask", "bench.promise_ask")


def seed_feature_rows(
    engine: Engine, seeded: list[SeededCouple], promises_per_couple: list[int]
) -> None:
    """The check-in schedule and promise rows behind the timers, when those features exist."""
    try:
        from flows.checkin import CheckinSchedule
        from flows.promises import Promise
    except ImportError:
        return
    insert_rows(
        engine,
        CheckinSchedule,
        [
            dict(couple_id=c.couple_id, weekday=6, at="19:00", active=True, updated_at=NOW)
            for c in seeded
        ],
    )
    insert_rows(
        engine,
        Promise,
        [
            dict(
                couple_id=c.couple_id,
                partner_id=c.partner_ids[n % 2],
                number=n + 1,
                what="Text when I leave work",
                state="active",
                repeat="daily",
                weekday=None,
                due_on=None,
                remind_at="09:00",
                version=0,
                misses_in_row=0,
                editing=None,
                editing_since=None,
                created_at=NOW,
                ended_at=None,
            )
            for c, count in zip(seeded, promises_per_couple, strict=True)
            for n in range(count)
        ],
    )


def seed(
    engine: Engine, couples: int, rng: random.Random, history: float
) -> tuple[list[int], int, int]:
    """`couples` formed couples with a week of pending timers and `history` finished timers
    per pending one (handled in the past weeks: they stay as rows); returns
    (ids, pending timers, finished timers)."""
    chats = [(-4_000_000_000 - i, 100_000_000 + 2 * i, 100_000_001 + 2 * i) for i in range(couples)]
    seeded = seed_couples(engine, chats)
    rows: list[dict[str, Any]] = []
    promises = [rng.randint(1, 3) for _ in seeded]  # 1, 2 or 3: two on average
    seed_feature_rows(engine, seeded, promises)
    for couple, count in zip(seeded, promises, strict=True):
        rows.append(
            timer_row(
                couple.couple_id,
                CHECKIN_KIND,
                NOW + timedelta(hours=1, seconds=rng.uniform(0, 7 * 86400)),
                ref=f"checkin-week:{couple.couple_id}",
            )
        )
        for promise in range(count):
            rows.append(
                timer_row(
                    couple.couple_id,
                    PROMISE_KIND,
                    NOW + timedelta(hours=1, seconds=rng.uniform(0, 86400)),
                    ref=f"promise:{couple.couple_id}:{promise}",
                )
            )
    pending = len(rows)
    finished = []
    for index in range(int(pending * history)):
        row = dict(rows[index % pending])
        row.update(
            due_at=NOW - timedelta(seconds=rng.uniform(60, 28 * 86400)), state="done", attempts=1
        )
        row.update(claimed_at=row["due_at"], finished_at=row["due_at"])
        finished.append(row)
    rows.extend(finished)
    insert_rows(engine, Timer, rows)
    analyze(engine)
    return [c.couple_id for c in seeded], pending, len(finished)


def timed(action: Callable[[], Any], repeat: int) -> float:
    """Median wall time of `action` in milliseconds."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(1000 * (time.perf_counter() - started))
    return statistics.median(samples)


def claim_plan(engine: Engine) -> str:
    """What the database does for the claim query (EXPLAIN), in one line."""
    runtime = Runtime(engine, SystemClock())
    captured: list[Any] = []

    from sqlalchemy import event

    def grab(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        if statement.lstrip().upper().startswith("SELECT TIMER.ID") and not captured:
            captured.append(statement)
            captured.append(parameters)

    event.listen(engine, "before_cursor_execute", grab)
    try:
        runtime._claim_timers()
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    if not captured:
        return "?"
    statement = captured[0]
    params = captured[1]
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            rows = connection.exec_driver_sql("EXPLAIN " + statement, params).fetchall()
            return " / ".join(row[0].strip() for row in rows)
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).fetchall()
        return " / ".join(str(row[-1]) for row in rows)


def make_due(engine: Engine, couple_ids: list[int], count: int, rng: random.Random) -> None:
    """`count` invite reminders (a real kind: one group message each) due a minute ago."""
    chosen = rng.sample(couple_ids, count)
    insert_rows(
        engine,
        Timer,
        [timer_row(cid, INVITE_REMINDER, NOW - timedelta(minutes=1)) for cid in chosen],
    )


def sweep_figures(
    engine: Engine, couple_ids: list[int], due_counts: list[int], rng: random.Random, repeat: int
) -> dict[str, float]:
    runtime = Runtime(engine, SystemClock())
    runtime.kick_delivery = lambda: None  # type: ignore[method-assign]  # no bot here
    figures = {
        "claim_idle_ms": timed(runtime._claim_timers, repeat),
        "earliest_ms": timed(runtime.earliest_pending, repeat),
    }
    for count in due_counts:
        make_due(engine, couple_ids, count, rng)
        started = time.perf_counter()
        handled = asyncio.run(runtime.fire_due())
        figures[f"due_{count}_ms"] = 1000 * (time.perf_counter() - started)
        assert handled == count, f"handled {handled} of {count}"
        figures[f"claim_after_{count}_ms"] = timed(runtime._claim_timers, repeat)
    return figures


async def startup_figures(url: str, where: Path, starts: int) -> dict[str, float]:
    sandbox = BotApiSandbox()
    await sandbox.start()
    ready: list[float] = []
    rss_ready: list[float] = []
    rss_settled: list[float] = []
    try:
        for index in range(starts):
            bot = BotProcess(
                sandbox,
                where,
                command=mend_command(),
                database_url=url,
                name=f"scale-{index}",
                MEND_SWEEP_SECONDS="1",
            )
            ready.append(await bot.start())
            rss_ready.append(bot.rss())
            await asyncio.sleep(3)  # a few sweeps of the whole timer table
            rss_settled.append(bot.rss())
            await bot.stop()
            for line in bot.errors()[:3]:
                print(f"  bot: {line}")
    finally:
        await sandbox.stop()
    return {
        "ready_s": statistics.median(ready),
        "ready_max_s": max(ready),
        "rss_ready_mb": statistics.median(rss_ready),
        "rss_settled_mb": max(rss_settled),
    }


def run_size(backend: str, couples: int, args: argparse.Namespace, where: Path) -> dict[str, Any]:
    rng = random.Random(couples)
    with fresh_database(backend, where) as url:
        engine = make_engine(url)
        started = time.perf_counter()
        ids, timers, done = seed(engine, couples, rng, args.history)
        seeded_s = time.perf_counter() - started
        result: dict[str, Any] = {
            "backend": backend,
            "couples": couples,
            "timers": timers,
            "done": done,
            "seed_s": seeded_s,
        }
        result.update(asyncio.run(startup_figures(url, where, args.starts)))
        result["plan"] = claim_plan(engine)
        result.update(sweep_figures(engine, ids, args.due, rng, args.repeat))
        engine.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite"])
    parser.add_argument(
        "--due",
        type=int,
        nargs="+",
        default=[100, 1000],
        help="how many timers fall due for the 'K due' sweeps",
    )
    parser.add_argument(
        "--history",
        type=float,
        default=1.0,
        help="finished timer rows per pending one (past weeks' history)",
    )
    parser.add_argument("--starts", type=int, default=3, help="start-ups to take the median of")
    parser.add_argument("--repeat", type=int, default=21, help="timings of each idle query")
    args = parser.parse_args()
    quiet_sandbox_logs()
    where = workdir("scale")
    print(f"machine: {machine()}")
    print(
        f"timer kinds: check-in {CHECKIN_KIND!r}, promises {PROMISE_KIND!r}; "
        f"due ones: {INVITE_REMINDER!r}; logs in {where}\n"
    )
    results = [
        run_size(backend, size, args, where) for backend in args.backends for size in args.sizes
    ]
    rows = [
        [
            r["backend"],
            r["couples"],
            r["timers"],
            r["done"],
            r["ready_s"],
            r["ready_max_s"],
            r["rss_ready_mb"],
            r["rss_settled_mb"],
            r["claim_idle_ms"],
            r["earliest_ms"],
        ]
        for r in results
    ]
    print(
        table(
            rows,
            [
                "backend",
                "couples",
                "pending timers",
                "finished timers",
                "start-up s (median)",
                "start-up s (max)",
                "RSS MB ready",
                "RSS MB after sweeps",
                "idle sweep: claim query ms",
                "earliest-pending query ms",
            ],
        )
    )
    print()
    due_rows = []
    for r in results:
        for count in args.due:
            total = r[f"due_{count}_ms"]
            due_rows.append(
                [
                    r["backend"],
                    r["couples"],
                    count,
                    total,
                    total / count,
                    r[f"claim_after_{count}_ms"],
                ]
            )
    print(
        table(
            due_rows,
            [
                "backend",
                "couples",
                "due K",
                "sweep with K due ms",
                "ms per due timer",
                "idle claim afterwards ms",
            ],
        )
    )
    print()
    for r in results:
        print(f"claim query plan ({r['backend']}, {r['couples']:,} couples): {r['plan']}")
    print()
    for backend in args.backends:
        mine = [r for r in results if r["backend"] == backend]
        small, big = min(mine, key=lambda r: r["couples"]), max(mine, key=lambda r: r["couples"])
        print(
            f"{backend}: {big['couples']:,} vs {small['couples']:,} couples — start-up "
            f"{big['ready_s']:.2f} s vs {small['ready_s']:.2f} s (goal < 3 s: "
            f"{'met' if big['ready_max_s'] < 3 else 'NOT met'}), memory "
            f"{big['rss_settled_mb']:.0f} MB vs {small['rss_settled_mb']:.0f} MB (goal < 250 MB:"
            f" {'met' if big['rss_settled_mb'] < 250 else 'NOT met'}), idle sweep "
            f"{big['claim_idle_ms']:.2f} ms vs {small['claim_idle_ms']:.2f} ms"
        )


if __name__ == "__main__":
    main()
