"""Benchmark 1: per-update cost of Mend against a bare python-telegram-bot echo bot.

The same local Bot API server feeds both bots the same number of updates from many couples
at once (every couple sends a command or presses a button, waits for the answer, goes on).
Reported: updates per second, CPU seconds of the bot process per 1,000 updates, and the
ratio Mend / bare, on SQLite and PostgreSQL.

    python -m bench.updates                       # 5,000 updates, 500 couples, both backends
    python -m bench.updates --backends sqlite --updates 2000 --couples 200
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    PYTHON,
    BotProcess,
    fresh_database,
    machine,
    make_engine,
    mend_command,
    own_cpu_seconds,
    postgres_cpu_seconds,
    quiet_sandbox_logs,
    sandbox_couples,
    seed_couples,
    table,
    workdir,
)
from flows.buttons import data as button_data
from sandbox import BotApiSandbox, SimChat, SimMessage, SimUser

STEP_TIMEOUT = 60.0

# A step: who acts (0 = Ana, 1 = Ben), and either a text to send or a button to press.
# A button is found on the bot's latest message in the group by `pick(message, couple)`,
# which returns the callback data (or None to forge one).


@dataclass(frozen=True)
class Step:
    who: int
    say: str | None = None
    press: Callable[[SimMessage | None, Couple], str] | None = None
    # The press also makes the bot write this many messages in the group: wait for them too
    # (the press itself is answered first, the messages follow through the outbox).
    writes: int = 0


@dataclass
class Couple:
    couple_id: int
    group: SimChat
    people: tuple[SimUser, SimUser]
    last_bot_message: SimMessage | None = None


@dataclass
class Workload:
    name: str
    cycle: list[Step]
    about: str


def _forged_join(_message: SimMessage | None, couple: Couple) -> str:
    # "I'm in" pressed again by someone already in: Mend checks and answers "already in".
    return button_data("join", couple.couple_id, "in")


def _echo_press(_message: SimMessage | None, _couple: Couple) -> str:
    return "echo"


def _button(prefix: str, index: int = 0) -> Callable[[SimMessage | None, Couple], str]:
    def pick(message: SimMessage | None, couple: Couple) -> str:
        found = [
            b["callback_data"]
            for b in (message.buttons if message else [])
            if str(b.get("callback_data", "")).startswith(prefix)
        ]
        if not found:
            raise LookupError(
                f"no {prefix!r} button on the latest message of couple "
                f"{couple.couple_id}: {message.text if message else None!r}"
            )
        return str(found[min(index, len(found) - 1)])

    return pick


def workloads() -> dict[str, Workload]:
    """What Mend can be asked: /pause and its buttons once pause exists, else settings."""
    found = {
        "settings": Workload(
            "settings",
            [
                Step(0, say="/settings"),
                Step(1, press=_forged_join),
                Step(1, say="/settings"),
                Step(0, press=_forged_join),
            ],
            '/settings (guard, partners, render, outbox) and a pressed "I\'m in" button '
            "(validated against the database, answered)",
        ),
    }
    import importlib.util

    if importlib.util.find_spec("flows.pause") is None:
        return found
    found["pause"] = Workload(
        "pause",
        [
            Step(0, say="/pause"),
            Step(0, press=_button("v1|pzs|"), writes=1),
            Step(1, press=_button("v1|pz|"), writes=1),
            Step(0, say="/back"),
            # "Back" in the group, then "For Ana: Ben is back too" (her private chat is not
            # open in the seeded couples, so it comes to the group).
            Step(1, press=_button("v1|pz|"), writes=2),
        ],
        "/pause, a length button, the other partner's agree button, /back, the other's "
        '"I\'m ready too" (a break ends only when both are back)',
    )
    return found


ECHO = Workload(
    "echo",
    [Step(0, say="/settings"), Step(1, press=_echo_press)],
    "a command (echoed) and a button press (answered)",
)


class Replies:
    """Wakes the simulated user waiting for the bot's answer in one chat (or to one press)."""

    def __init__(self, sandbox: BotApiSandbox) -> None:
        self.sandbox = sandbox
        self.messages: dict[int, tuple[asyncio.Future[int], list[int]]] = {}
        self.answers: dict[str, asyncio.Future[None]] = {}
        self.early: set[str] = set()  # answered before anyone waited (not expected, but safe)
        sandbox.subscribe(self.on_event)

    def on_event(self, event: dict[str, Any]) -> None:
        if event["type"] == "message" and event["from_bot"]:
            waiting = self.messages.get(event["chat_id"])
            if waiting is None:
                return
            future, left = waiting
            left[0] -= 1
            if left[0] <= 0:
                del self.messages[event["chat_id"]]
                if not future.done():
                    future.set_result(event["message_id"])
        elif event["type"] == "callback_answer":
            answered = self.answers.pop(event["callback_query_id"], None)
            if answered is None:
                self.early.add(event["callback_query_id"])
            elif not answered.done():
                answered.set_result(None)

    def expect_message(self, chat_id: int, count: int = 1) -> asyncio.Future[int]:
        """Resolves with the id of the `count`-th message the bot writes in the chat."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.messages[chat_id] = (future, [count])
        return future

    def expect_answer(self, query_id: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if query_id in self.early:
            self.early.discard(query_id)
            future.set_result(None)
        else:
            self.answers[query_id] = future
        return future


async def act(sandbox: BotApiSandbox, replies: Replies, couple: Couple, step: Step) -> None:
    person = couple.people[step.who]
    if step.say is not None:
        waiting = replies.expect_message(couple.group.id)
        await sandbox.user_sends(person, couple.group, step.say)
        message_id = await asyncio.wait_for(waiting, STEP_TIMEOUT)
        couple.last_bot_message = sandbox.message(couple.group, message_id)
        return
    assert step.press is not None
    latest = sandbox.bot_messages(couple.group)
    target = latest[-1] if latest else couple.last_bot_message
    assert target is not None, "a press needs a message to press on"
    payload = step.press(target, couple)
    written = replies.expect_message(couple.group.id, step.writes) if step.writes else None
    query_id = await sandbox.user_presses(person, target, payload)
    await asyncio.wait_for(replies.expect_answer(query_id), STEP_TIMEOUT)
    if written is not None:
        message_id = await asyncio.wait_for(written, STEP_TIMEOUT)
        couple.last_bot_message = sandbox.message(couple.group, message_id)


@dataclass
class Figures:
    bot: str
    backend: str
    workload: str
    updates: int
    seconds: float
    bot_cpu: float
    db_cpu: float
    driver_cpu: float
    api_calls: int
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.updates / self.seconds

    @property
    def cpu_per_1000(self) -> float:
        return 1000 * self.bot_cpu / self.updates

    @property
    def db_cpu_per_1000(self) -> float:
        return 1000 * self.db_cpu / self.updates


async def run_bot(
    bot: str,
    backend: str,
    workload: Workload,
    *,
    couples: int,
    updates: int,
    warmup: int,
    where: Path,
    profile: bool = False,
    limiter: str = "off",
) -> Figures:
    """One bot, one backend: start it, warm it up, feed `updates` updates, take figures."""
    steps_per_couple = max(1, updates // couples)
    sandbox = BotApiSandbox()
    await sandbox.start()
    replies = Replies(sandbox)
    world = sandbox_couples(sandbox, couples)
    database = fresh_database(backend, where) if bot == "mend" else None
    url = database.__enter__() if database is not None else ""
    try:
        ids = list(range(1, couples + 1))
        if bot == "mend":
            engine = make_engine(url)
            seeded = seed_couples(engine, [(g.id, a.id, b.id) for g, a, b in world])
            engine.dispose()
            ids = [c.couple_id for c in seeded]
            command = mend_command()
        else:
            command = [PYTHON, "-m", "bench.echo_bot"]
        process = BotProcess(
            sandbox,
            where,
            command=command,
            database_url=url,
            name=f"{bot}-{backend}",
            MEND_RATE_LIMIT=limiter if bot == "mend" else "off",
            MEND_SWEEP_SECONDS="30",
        )
        await process.start()
        if profile:
            process.profile(where / f"{process.name}.prof")
        people = [Couple(cid, g, (a, b)) for cid, (g, a, b) in zip(ids, world, strict=True)]
        script = [workload.cycle[i % len(workload.cycle)] for i in range(warmup + steps_per_couple)]
        warmed = 0
        go = asyncio.Event()
        marks: dict[str, float] = {}

        async def live(couple: Couple) -> None:
            nonlocal warmed
            for step in script[:warmup]:
                await act(sandbox, replies, couple, step)
            warmed += 1
            if warmed == len(people):
                marks.update(
                    wall=time.monotonic(),
                    bot=process.cpu(),
                    db=postgres_cpu_seconds(),
                    me=own_cpu_seconds(),
                    calls=sum(sandbox.calls.values()),
                )
                go.set()
            await go.wait()
            for step in script[warmup:]:
                await act(sandbox, replies, couple, step)

        await asyncio.gather(*(live(couple) for couple in people))
        seconds = time.monotonic() - marks["wall"]
        figures = Figures(
            bot="Mend" if bot == "mend" else "bare PTB",
            backend=backend,
            workload=workload.name,
            updates=steps_per_couple * couples,
            seconds=seconds,
            bot_cpu=process.cpu() - marks["bot"],
            db_cpu=postgres_cpu_seconds() - marks["db"] if backend == "postgres" else 0.0,
            driver_cpu=own_cpu_seconds() - marks["me"],
            api_calls=sum(sandbox.calls.values()) - int(marks["calls"]),
        )
        process.end_profile()
        await process.stop()
        figures.errors = process.errors()
        if sandbox.violations:
            figures.errors.extend(sandbox.violations[:5])
        return figures
    finally:
        if database is not None:
            database.__exit__(None, None, None)
        await sandbox.stop()


async def main_async(args: argparse.Namespace) -> None:
    quiet_sandbox_logs()
    known = workloads()
    name = args.workload or ("pause" if "pause" in known else "settings")
    if name not in known:
        raise SystemExit(f"unknown workload {name!r}; available: {', '.join(known)}")
    workload = known[name]
    where = workdir("updates")
    print(f"machine: {machine()}")
    print(f"workload: Mend {workload.about}; bare bot: {ECHO.about}")
    print(
        f"{args.updates} updates from {args.couples} couples (after {args.warmup} warm-up "
        f"updates per couple), Mend's rate limiter {args.limiter}, the bare bot's off; "
        f"logs in {where}\n"
    )
    results: list[tuple[Figures, Figures]] = []
    for backend in args.backends:
        for _round in range(args.rounds):
            bare = await run_bot(
                "echo",
                backend,
                ECHO,
                couples=args.couples,
                updates=args.updates,
                warmup=args.warmup,
                where=where,
                profile=args.profile,
            )
            mend = await run_bot(
                "mend",
                backend,
                workload,
                couples=args.couples,
                updates=args.updates,
                warmup=args.warmup,
                where=where,
                profile=args.profile,
                limiter=args.limiter,
            )
            results.append((bare, mend))
            for figures in (bare, mend):
                for line in figures.errors[:5]:
                    print(f"  {figures.bot} {backend}: {line}")
    rows = []
    for bare, mend in results:
        for f in (bare, mend):
            rows.append(
                [
                    f.backend,
                    f.bot,
                    f.workload,
                    f.updates,
                    f.seconds,
                    f.rate,
                    f.cpu_per_1000,
                    f.db_cpu_per_1000 if f.backend == "postgres" else "-",
                    f.api_calls / f.updates,
                    1000 * f.driver_cpu / f.updates,
                ]
            )
    print(
        table(
            rows,
            [
                "backend",
                "bot",
                "workload",
                "updates",
                "seconds",
                "updates/s",
                "bot CPU s/1k",
                "PostgreSQL CPU s/1k",
                "API calls/update",
                "sandbox CPU s/1k",
            ],
        )
    )
    print()
    ratio_rows = []
    for bare, mend in results:
        goal = 2.5 if mend.backend == "sqlite" else 3.0
        cpu_ratio = mend.cpu_per_1000 / bare.cpu_per_1000
        with_db = (mend.cpu_per_1000 + mend.db_cpu_per_1000) / bare.cpu_per_1000
        ratio_rows.append(
            [
                mend.backend,
                cpu_ratio,
                with_db if mend.backend == "postgres" else "-",
                bare.rate / mend.rate,
                goal,
                "met" if cpu_ratio <= goal else "NOT met",
            ]
        )
    print(
        table(
            ratio_rows,
            [
                "backend",
                "CPU ratio Mend/bare",
                "incl. PostgreSQL CPU",
                "time ratio Mend/bare",
                "goal",
                "CPU goal",
            ],
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--couples", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=2, help="updates per couple, not counted")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument(
        "--workload", default=None, help="pause (default once it exists) or settings"
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--limiter",
        choices=["off", "on"],
        default="off",
        help="Mend's rate limiter (the bare bot never has one)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample both bots with py-spy "
        "(figures are then not comparable); summarise with bench.profile",
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
