"""Benchmark 5: how long a quiet couple waits while other couples are busy, and how long a
stop takes under a backlog.

200 couples (seeded as formed), the rate limiter at Telegram's limits (30 messages a second
overall, 20 a minute per group). 20 busy couples keep their groups at the per-group limit
(a command every 2 s, and bursts of button presses); 180 quiet ones each act every few
seconds: a button press (answered with a notice) or /help (answered in their group).
Reported: p50/p95/p99 of the time from a quiet couple's press to its answer, and from their
command to the first reply (goals: p99 < 1 s and < 2 s). Then a backlog of thousands of
commands, SIGTERM while it is being worked through: the time to exit (goal < 10 s), and
after a restart, that every command got its answer (0 lost) and how many twice.

    python -m bench.latency                          # SQLite, 60 s of traffic
    python -m bench.latency --backend postgres --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

from bench.common import (
    BotProcess,
    fresh_database,
    machine,
    make_engine,
    mend_command,
    quiet_sandbox_logs,
    sandbox_couples,
    seed_couples,
    table,
    workdir,
)
from flows.buttons import data as button_data
from sandbox import BotApiSandbox, SimChat, SimUser


@dataclass
class Couple:
    couple_id: int
    group: SimChat
    people: tuple[SimUser, SimUser]
    busy: bool


@dataclass
class Waits:
    """Seconds from an action to the bot's answer, and actions never answered."""

    press: list[float] = field(default_factory=list)
    reply: list[float] = field(default_factory=list)
    unanswered: int = 0


class Watch:
    """Resolves futures when the bot answers a press or writes in a group."""

    def __init__(self, sandbox: BotApiSandbox) -> None:
        self.answers: dict[str, asyncio.Future[float]] = {}
        self.replies: dict[int, asyncio.Future[float]] = {}
        self.per_chat: dict[int, int] = {}
        sandbox.subscribe(self.on_event)

    def on_event(self, event: dict[str, Any]) -> None:
        now = time.monotonic()
        if event["type"] == "callback_answer":
            future = self.answers.pop(event["callback_query_id"], None)
            if future is not None and not future.done():
                future.set_result(now)
        elif event["type"] == "message" and event["from_bot"]:
            chat_id = event["chat_id"]
            self.per_chat[chat_id] = self.per_chat.get(chat_id, 0) + 1
            waiting = self.replies.pop(chat_id, None)
            if waiting is not None and not waiting.done():
                waiting.set_result(now)

    def answer_of(self, query_id: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.answers[query_id] = future
        return future

    def reply_in(self, chat_id: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.replies[chat_id] = future
        return future


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def quiet_couple(
    sandbox: BotApiSandbox,
    watch: Watch,
    couple: Couple,
    until: float,
    waits: Waits,
    rng: random.Random,
    every: tuple[float, float],
) -> None:
    await asyncio.sleep(rng.uniform(0, every[1]))
    press = rng.random() < 0.5
    while time.monotonic() < until:
        person = couple.people[rng.randrange(2)]
        started = time.monotonic()
        try:
            if press:
                target = sandbox.bot_messages(couple.group)
                message = target[-1] if target else None
                if message is None:
                    press = False
                    continue
                query_id = await sandbox.user_presses(
                    person, message, button_data("join", couple.couple_id, "in")
                )
                answered = await asyncio.wait_for(watch.answer_of(query_id), 30)
                waits.press.append(answered - started)
            else:
                replied = watch.reply_in(couple.group.id)
                await sandbox.user_sends(person, couple.group, "/help")
                waits.reply.append(await asyncio.wait_for(replied, 30) - started)
        except TimeoutError:
            waits.unanswered += 1
        press = not press
        await asyncio.sleep(rng.uniform(*every))


async def busy_couple(
    sandbox: BotApiSandbox, couple: Couple, until: float, rng: random.Random
) -> None:
    """A command every 2.5 s (24 a minute: more than the group's 20), and a burst of five
    presses every 12.5 s: the group is at its limit the whole time."""
    # Each couple on its own rhythm (twenty bursts at the same instant would measure the
    # benchmark's own synchrony).
    await asyncio.sleep(rng.uniform(0, 12.5))
    tick = 0
    while time.monotonic() < until:
        person = couple.people[tick % 2]
        await sandbox.user_sends(person, couple.group, "/settings")
        if tick % 5 == 0:
            target = sandbox.bot_messages(couple.group)
            if target:
                for _ in range(5):
                    await sandbox.user_presses(
                        couple.people[1 - tick % 2],
                        target[-1],
                        button_data("join", couple.couple_id, "in"),
                    )
        tick += 1
        await asyncio.sleep(2.5 + rng.uniform(-0.1, 0.1))


async def run(args: argparse.Namespace) -> None:
    quiet_sandbox_logs()
    where = workdir("latency")
    print(f"machine: {machine()}")
    print(
        f"{args.couples} couples ({args.busy} busy), limiter on (30/s, 20/min per group), "
        f"{args.seconds:.0f} s of traffic on {args.backend}; logs in {where}\n"
    )
    sandbox = BotApiSandbox()
    await sandbox.start()
    watch = Watch(sandbox)
    world = sandbox_couples(sandbox, args.couples)
    database = fresh_database(args.backend, where)
    url = database.__enter__()
    rng = random.Random(12)
    try:
        engine = make_engine(url)
        seeded = seed_couples(engine, [(g.id, a.id, b.id) for g, a, b in world])
        engine.dispose()
        couples = [
            Couple(c.couple_id, g, (a, b), busy=index < args.busy)
            for index, (c, (g, a, b)) in enumerate(zip(seeded, world, strict=True))
        ]
        bot = BotProcess(
            sandbox,
            where,
            command=mend_command(),
            database_url=url,
            name=f"mend-{args.backend}",
            MEND_RATE_LIMIT="on",
            MEND_SWEEP_SECONDS="30",
        )
        if args.concurrent:
            bot.env["CONCURRENT_UPDATES"] = str(args.concurrent)
        await bot.start()
        # Every couple gets one message to press on (and the busy groups start queueing).
        for couple in couples:
            await sandbox.user_sends(couple.people[0], couple.group, "/help")
        await _until(lambda: all(sandbox.bot_messages(c.group) for c in couples), 120)
        await asyncio.sleep(2.0)

        waits = Waits()
        until = time.monotonic() + args.seconds
        await asyncio.gather(
            *(busy_couple(sandbox, c, until, rng) for c in couples if c.busy),
            *(
                quiet_couple(sandbox, watch, c, until, waits, rng, (args.every, 2 * args.every))
                for c in couples
                if not c.busy
            ),
        )
        busy_groups = [c.group for c in couples if c.busy]
        per_group_max = max(sandbox.max_sends_in_window(g) for g in busy_groups)
        rows = []
        for name, values, goal in (
            ("press → answer", waits.press, 1.0),
            ("command → first reply", waits.reply, 2.0),
        ):
            p99 = percentile(values, 99)
            rows.append(
                [
                    name,
                    len(values),
                    percentile(values, 50),
                    percentile(values, 95),
                    p99,
                    max(values, default=float("nan")),
                    f"< {goal:.0f} s",
                    "met" if p99 < goal else "NOT met",
                ]
            )
        print(table(rows, ["quiet couples", "n", "p50 s", "p95 s", "p99 s", "max s", "goal", ""]))
        print(
            f"\nunanswered within 30 s: {waits.unanswered}; most messages in any busy group "
            f"in any 60 s: {per_group_max} (limit 20)\n"
        )

        # The stop under a backlog.
        quiet = [c for c in couples if not c.busy]
        before = {c.group.id: watch.per_chat.get(c.group.id, 0) for c in quiet}
        sent: dict[int, int] = {}
        for index in range(args.backlog):
            couple = quiet[index % len(quiet)]
            await sandbox.user_sends(couple.people[index % 2], couple.group, "/help")
            sent[couple.group.id] = sent.get(couple.group.id, 0) + 1
        await _until(lambda: sum(watch.per_chat.get(g, 0) - before[g] for g in sent) >= 50, 60)
        stored = bot.sandbox.calls["getUpdates"]
        began = time.monotonic()
        await bot.stop(timeout=30)
        stop_seconds = time.monotonic() - began
        answered_before = sum(watch.per_chat.get(g, 0) - before[g] for g in sent)
        # The restart only has to show nothing was lost: without the limiter, so it is quick.
        bot.env["MEND_RATE_LIMIT"] = "off"
        await bot.start()
        await _until(
            lambda: all(watch.per_chat.get(g, 0) - before[g] >= n for g, n in sent.items()), 300
        )
        await asyncio.sleep(2.0)
        answered = {g: watch.per_chat.get(g, 0) - before[g] for g in sent}
        lost = sum(max(0, n - answered[g]) for g, n in sent.items())
        twice = sum(max(0, answered[g] - n) for g, n in sent.items())
        await bot.stop()
        print(
            table(
                [[args.backlog, answered_before, stop_seconds, lost, twice]],
                [
                    "backlog (commands)",
                    "answered before SIGTERM",
                    "stop took s",
                    "lost",
                    "answered twice",
                ],
            )
        )
        print(
            f"\nstop goal < 10 s: {'met' if stop_seconds < 10 else 'NOT met'}; "
            f"getUpdates calls before the stop: {stored}"
        )
        for line in bot.errors()[:5]:
            print(f"  bot: {line}")
        if sandbox.violations:
            print(f"  Bot API violations: {sandbox.violations[:5]}")
    finally:
        database.__exit__(None, None, None)
        await sandbox.stop()


async def _until(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark waited too long; see the bot's log")
        await asyncio.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--couples", type=int, default=200)
    parser.add_argument("--busy", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--every",
        type=float,
        default=5.0,
        help="a quiet couple acts every EVERY to 2*EVERY seconds",
    )
    parser.add_argument(
        "--backlog", type=int, default=3000, help="commands queued before the SIGTERM"
    )
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument(
        "--concurrent",
        type=int,
        default=0,
        help="CONCURRENT_UPDATES for the bot (default: the bot's own)",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
