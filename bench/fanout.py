"""Benchmark 3: fan-out at Telegram's limit.

Many couples whose timers fall due in the same minute (each sends one message to its
group). Time inside the bot is moved forward a day through its clock file, so every timer
falls due at once. Counted on the server side (the sandbox): every message, per group.

- `limited`: the rate limiter at Telegram's limits (30 messages/s overall, 20/min per
  group): the sustained send rate against the 30/s ceiling (goal >= 90 %), and the most
  messages any group got within 60 s (goal <= 20). A few "busy" groups get more due timers
  than 20, to see the per-group limit hold.
- `raw`: the limiter lifted (MEND_RATE_LIMIT=off) against the local server: the raw rate
  the pipeline pushes (goal >= 10x the ceiling, 300 messages/s).

Zero lost and zero duplicated, per group, counted in the sandbox.

    python -m bench.fanout                                 # 10,000 couples, both modes, SQLite
    python -m bench.fanout --modes raw --backend postgres --couples 10000
    python -m bench.fanout --modes limited --couples 3000  # ~2 minutes instead of ~6
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

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
    postgres_cpu_seconds,
    quiet_sandbox_logs,
    sandbox_couples,
    seed_couples,
    table,
    timer_row,
    workdir,
)
from bot.delivery.models import Outbox, Timer
from bot.delivery.outbox import persist
from bot.delivery.timers import handle_due
from flows.features import load_all
from flows.onboarding import INVITE_REMINDER
from sandbox import BotApiSandbox

TIMER_KINDS = load_all().timers

CEILING = 30.0  # messages per second, Telegram's overall limit for a bot
GROUP_LIMIT = 20  # messages per minute in one group
DUE_IN = timedelta(days=1)
STALL = 60.0  # seconds without a new message before giving up


def fanout_kind() -> str:
    """The check-in's weekly start once it is on main; until then the onboarding reminder."""
    return "checkin.start" if "checkin.start" in TIMER_KINDS else INVITE_REMINDER


@dataclass
class Plan:
    couples: int
    backend: str
    limited: bool
    busy_groups: int = 0
    busy_timers: int = 0
    processes: int = 1
    webhook: bool = False
    kill_at: float | None = None  # fraction of messages sent when one process is SIGKILLed
    claim_timeout: float | None = None
    sweep_seconds: float = 1.0
    profile: bool = False
    label: str = ""


@dataclass
class Outcome:
    plan: Plan
    kind: str
    expected: int
    sent: int
    first_send_after: float  # seconds from "time moved" to the first message
    duration: float  # first to last message
    steady_rate: float  # messages/s between the 10th and 90th percentile of sends
    max_group_minute: int
    lost: int
    duplicated: int
    timers: dict[str, int]
    outbox: dict[str, int]
    bot_cpu: float
    db_cpu: float
    rss_mb: float
    errors: list[str] = field(default_factory=list)
    kill: dict[str, Any] = field(default_factory=dict)
    per_process_cpu: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return (self.sent - 1) / self.duration if self.duration > 0 else 0.0


def roles_of(engine: Engine, couple: SeededCouple, at: datetime) -> Counter[str]:
    """What the couple's due timers send, per chat (group, a, b): found by handling them in a
    transaction that is rolled back, exactly as the runtime would."""
    with Session(engine) as session:
        timers = session.exec(
            select(Timer)
            .where(Timer.couple_id == couple.couple_id, Timer.state == "pending")
            .order_by(col(Timer.id))
        ).all()
        for timer in timers:
            effects, state, late = handle_due(session, timer, at)
            persist(session, effects, at, claim=False, late=late)
            timer.state = state
            session.add(timer)
            session.flush()
        chats = session.exec(
            select(Outbox.chat_id).where(Outbox.couple_id == couple.couple_id)
        ).all()
        session.rollback()
    names = {couple.chat_id: "group", couple.user_ids[0]: "a", couple.user_ids[1]: "b"}
    return Counter(names.get(chat, "other") for chat in chats)


def seed_fanout(
    engine: Engine, sandbox: BotApiSandbox, plan: Plan, kind: str, due: datetime
) -> dict[int, int]:
    """Couples, their chats in the sandbox, and the due timers; returns chat -> expected.

    With the check-in, partners have opened their private chats (the usual case): each start
    writes one line in the group and the first question to each partner in private. Busy
    groups also get onboarding reminders (more than 20, to test the per-group limit); their
    partners have not opened the private chat, so everything goes to the group."""
    world = sandbox_couples(sandbox, plan.couples)
    busy = min(plan.busy_groups, plan.couples)
    checkin = kind == "checkin.start"
    seeded = seed_couples(engine, [(g.id, a.id, b.id) for g, a, b in world[:busy]])
    seeded += seed_couples(
        engine, [(g.id, a.id, b.id) for g, a, b in world[busy:]], private_open=checkin
    )
    if checkin:
        for _group, ana, ben in world[busy:]:
            sandbox.private_chat(ana).started = True
            sandbox.private_chat(ben).started = True
    rows: list[dict[str, Any]] = []
    if checkin:
        from flows.checkin import CheckinSchedule

        weekday, at = due.weekday(), due.strftime("%H:%M")
        insert_rows(
            engine,
            CheckinSchedule,
            [
                dict(couple_id=c.couple_id, weekday=weekday, at=at, active=True, updated_at=NOW)
                for c in seeded
            ],
        )
        rows += [
            timer_row(
                c.couple_id,
                kind,
                due,
                payload={"weekday": weekday, "at": at},
                ref=f"checkin-week:{c.couple_id}",
            )
            for c in seeded
        ]
    else:
        rows += [timer_row(c.couple_id, kind, due) for c in seeded]
    for couple in seeded[:busy]:
        rows += [timer_row(couple.couple_id, INVITE_REMINDER, due) for _ in range(plan.busy_timers)]
    insert_rows(engine, Timer, rows)
    analyze(engine)
    expected: dict[int, int] = {}
    samples = [
        (seeded[:busy], seeded[0] if busy else None),
        (seeded[busy:], seeded[busy] if len(seeded) > busy else None),
    ]
    for couples, sample in samples:
        if sample is None:
            continue
        roles = roles_of(engine, sample, due + timedelta(seconds=5))
        for couple in couples:
            for role, chat in (
                ("group", couple.chat_id),
                ("a", couple.user_ids[0]),
                ("b", couple.user_ids[1]),
            ):
                if roles[role]:
                    expected[chat] = expected.get(chat, 0) + roles[role]
    return expected


def states(engine: Engine, table_name: str) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(text(f"SELECT state, count(*) FROM {table_name} GROUP BY state"))
        return {str(state): int(count) for state, count in rows}


def max_per_window(times_by_chat: dict[int, list[float]], window: float = 60.0) -> int:
    best = 0
    for times in times_by_chat.values():
        start = 0
        for end, moment in enumerate(times):
            while moment - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
    return best


async def run_fanout(
    plan: Plan,
    where: Path,
    on_half: Callable[[list[BotProcess], Engine, BotApiSandbox], dict[str, Any]] | None = None,
    after_run: Callable[[Engine, dict[str, Any]], dict[str, Any]] | None = None,
) -> Outcome:
    kind = fanout_kind()
    sandbox = BotApiSandbox()
    await sandbox.start()
    bots: list[BotProcess] = []
    try:
        with fresh_database(plan.backend, where) as url:
            engine = make_engine(url)
            due = (NOW + DUE_IN + timedelta(minutes=1)).replace(second=0)
            expected = seed_fanout(engine, sandbox, plan, kind, due)
            total = sum(expected.values())
            clock = where / "shared.clock"
            clock.unlink(missing_ok=True)
            for index in range(plan.processes):
                env = {
                    "MEND_RATE_LIMIT": "on" if plan.limited else "off",
                    "MEND_SWEEP_SECONDS": str(plan.sweep_seconds),
                }
                if plan.claim_timeout:
                    env["MEND_CLAIM_TIMEOUT_SECONDS"] = str(plan.claim_timeout)
                if plan.webhook:
                    port = 18_400 + index
                    env.update(
                        WEBHOOK_URL=f"http://127.0.0.1:{port}/hook-{index}",
                        WEBHOOK_SECRET="bench-secret",
                        WEBHOOK_PORT=str(port),
                    )
                bot = BotProcess(
                    sandbox,
                    where,
                    command=mend_command(),
                    database_url=url,
                    name=f"fanout-{plan.label}{plan.backend}-{index}",
                    clock=clock,
                    **env,
                )
                await bot.start(ready_call="setWebhook" if plan.webhook else "getUpdates")
                bots.append(bot)
                if plan.profile:
                    bot.profile(where / f"{bot.name}.prof")
            if plan.webhook:
                await asyncio.sleep(1.0)  # PTB sets the webhook, then starts listening
            cpu_before = [bot.cpu() for bot in bots]
            db_before = postgres_cpu_seconds() if plan.backend == "postgres" else 0.0
            log_start = len(sandbox.sent_log)
            bots[0].clock.advance(due - NOW)
            moved = time.monotonic()
            last_change = moved
            kill: dict[str, Any] = {}
            rss = 0.0
            cpu_at_kill: dict[int, float] = {}
            got: Counter[int] = Counter()
            satisfied = 0
            seen = log_start
            complete_at = 0.0
            while True:
                await asyncio.sleep(0.2)
                for record in sandbox.sent_log[seen:]:
                    if record.method == "sendMessage":
                        got[record.chat_id] += 1
                        if got[record.chat_id] == expected.get(record.chat_id, -1):
                            satisfied += 1
                    last_change = time.monotonic()
                seen = len(sandbox.sent_log)
                rss = max(
                    [rss]
                    + [bot.rss() for bot in bots if bot.process and bot.process.poll() is None]
                )
                count = seen - log_start
                if on_half is not None and not kill and count >= total * (plan.kill_at or 0.5):
                    cpu_at_kill = {i: bot.cpu() for i, bot in enumerate(bots)}
                    kill = on_half(bots, engine, sandbox)
                    kill["sent_at_kill"] = count
                    kill["at"] = time.monotonic()
                if satisfied >= len(expected):
                    if not complete_at:
                        complete_at = time.monotonic()
                    # Late duplicates come after a claim timeout: wait that long for them.
                    grace = (
                        1.0 if not kill else (plan.claim_timeout or 300) + 3 * plan.sweep_seconds
                    )
                    if time.monotonic() - complete_at >= grace:
                        break
                elif time.monotonic() - last_change > STALL + (plan.claim_timeout or 0):
                    break
            records = sandbox.sent_log[log_start:]
            bot_cpu = 0.0
            per_process: list[float] = []
            for index, bot in enumerate(bots):
                alive = bot.process is not None and bot.process.poll() is None
                end_cpu = bot.cpu() if alive else cpu_at_kill.get(index, cpu_before[index])
                bot_cpu += end_cpu - cpu_before[index]
                per_process.append(end_cpu - cpu_before[index])
            db_cpu = postgres_cpu_seconds() - db_before if plan.backend == "postgres" else 0.0
            timers, outbox = states(engine, "timer"), states(engine, "outbox")
            if kill and after_run is not None:
                kill.update(after_run(engine, kill))
            engine.dispose()
            for bot in bots:
                bot.end_profile()
                await bot.stop()
    finally:
        await sandbox.stop()
    per_chat: dict[int, list[float]] = defaultdict(list)
    for record in records:
        if record.method == "sendMessage":
            per_chat[record.chat_id].append(record.time)
    got = Counter({chat: len(times) for chat, times in per_chat.items()})
    lost = sum(max(0, want - got.get(chat, 0)) for chat, want in expected.items())
    duplicated = sum(max(0, got.get(chat, 0) - want) for chat, want in expected.items())
    twice = {chat for chat, want in expected.items() if got.get(chat, 0) > want}
    times = sorted(r.time for r in records if r.method == "sendMessage")
    sent = len(times)
    duration = times[-1] - times[0] if sent > 1 else 0.0
    lo, hi = times[int(sent * 0.1)] if sent else 0.0, times[int(sent * 0.9) - 1] if sent else 0.0
    steady = (int(sent * 0.9) - 1 - int(sent * 0.1)) / (hi - lo) if hi > lo else 0.0
    if kill:
        killed_at = kill.pop("at")
        kill["complete_after_kill"] = complete_at - killed_at if complete_at else None
        allowed = kill.pop("in_flight_chats", set())
        kill["duplicates_outside_window"] = len(twice - allowed)
    errors = [f"{bot.name}: {line}" for bot in bots for line in bot.errors()[:3]]
    errors += sandbox.violations[:5]
    return Outcome(
        plan=plan,
        kind=kind,
        expected=sum(expected.values()),
        sent=sent,
        first_send_after=(times[0] - moved) if times else 0.0,
        duration=duration,
        steady_rate=steady,
        max_group_minute=max_per_window(per_chat),
        lost=lost,
        duplicated=duplicated,
        timers=timers,
        outbox=outbox,
        bot_cpu=bot_cpu,
        db_cpu=db_cpu,
        rss_mb=rss,
        errors=errors,
        kill=kill,
        per_process_cpu=per_process,
    )


def report(outcomes: list[Outcome]) -> str:
    rows = []
    for o in outcomes:
        p = o.plan
        rows.append(
            [
                p.backend,
                "limited" if p.limited else "raw",
                p.processes,
                o.expected,
                o.sent,
                o.lost,
                o.duplicated,
                o.first_send_after,
                o.duration,
                o.rate,
                o.steady_rate,
                1000 * o.bot_cpu / max(o.sent, 1),
                1000 * o.db_cpu / max(o.sent, 1) if p.backend == "postgres" else "-",
                o.max_group_minute,
                o.rss_mb,
            ]
        )
    lines = [
        table(
            rows,
            [
                "backend",
                "limiter",
                "processes",
                "expected",
                "sent",
                "lost",
                "duplicated",
                "first send after s",
                "first to last s",
                "msgs/s",
                "steady msgs/s (p10-p90)",
                "bot CPU ms/msg",
                "PostgreSQL CPU ms/msg",
                "max msgs/group/60 s",
                "max RSS MB",
            ],
        ),
        "",
    ]
    for o in outcomes:
        p = o.plan
        state = f"timers {o.timers}, outbox {o.outbox}"
        if p.limited:
            share = o.steady_rate / CEILING
            lines.append(
                f"{p.backend} limited: steady {o.steady_rate:.1f} msgs/s = {100 * share:.0f} % "
                f"of the {CEILING:.0f}/s ceiling (goal >= 90 %: "
                f"{'met' if share >= 0.9 else 'NOT met'})"
                f"; max {o.max_group_minute} msgs in one group within 60 s (goal <= "
                f"{GROUP_LIMIT}: {'met' if o.max_group_minute <= GROUP_LIMIT else 'NOT met'}); "
                f"lost {o.lost}, duplicated {o.duplicated}; {state}"
            )
        else:
            times = o.rate / CEILING
            lines.append(
                f"{p.backend} raw: {o.rate:.0f} msgs/s = {times:.1f}x the ceiling (goal >= 10x: "
                f"{'met' if times >= 10 else 'NOT met'}); lost {o.lost}, duplicated "
                f"{o.duplicated}; {state}"
            )
        for line in o.errors:
            lines.append(f"  ! {line}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--couples", type=int, default=10_000)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument(
        "--modes", nargs="+", default=["raw", "limited"], choices=["raw", "limited"]
    )
    parser.add_argument(
        "--busy-groups",
        type=int,
        default=3,
        help="groups with more due timers than the per-group limit (limited)",
    )
    parser.add_argument("--busy-timers", type=int, default=30)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the bot with py-spy; summarise with bench.profile",
    )
    args = parser.parse_args()
    quiet_sandbox_logs()
    where = workdir("fanout")
    print(f"machine: {machine()}")
    print(
        f"{args.couples:,} couples, one '{fanout_kind()}' timer each due at the same moment; "
        f"logs in {where}\n"
    )
    outcomes = []
    for mode in args.modes:
        limited = mode == "limited"
        plan = Plan(
            args.couples,
            args.backend,
            limited,
            busy_groups=args.busy_groups if limited else 0,
            busy_timers=args.busy_timers,
            profile=args.profile,
        )
        outcomes.append(asyncio.run(run_fanout(plan, where)))
    print(report(outcomes))


if __name__ == "__main__":
    main()
