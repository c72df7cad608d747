"""Durable timers end to end: a killed process, a burst, and two processes sharing the work."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import NO_POSTGRES, POSTGRES_URL
from tests.e2e.harness import BotProcess, Scene, form_couple, scene, seed_couples

pytestmark = pytest.mark.e2e

LATE = "(Sorry, this comes late"
REMINDER = "one tap on the button below"


async def test_a_timer_due_while_the_bot_was_killed_arrives_once_and_says_it_is_late(
    world: Scene,
) -> None:
    await form_couple(world, open_private=False)
    mark = world.last_id(world.group)
    world.advance(timedelta(hours=23))
    assert await world.bot.kill() != 0  # SIGKILL: no clean shutdown
    world.advance(timedelta(hours=3))  # the reminder fell due two hours ago
    await world.bot.start()
    reminder = await world.expect(world.group, REMINDER, after=mark)
    assert (reminder.text or "").startswith(LATE)
    await world.bot.settled()  # nothing left to fire or send: still exactly one
    texts = [m.text or "" for m in world.sandbox.bot_messages(world.group) if m.message_id > mark]
    assert sum(REMINDER in text for text in texts) == 1


async def _wait_for_sends(world_sandbox: object, expected: int, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(world_sandbox.sent_log) < expected:  # type: ignore[attr-defined]
        if loop.time() > deadline:
            break
        await asyncio.sleep(0.1)


async def test_a_burst_of_212_due_timers_arrives_completely_once_within_limits(
    sqlite_world: Scene,
) -> None:
    """40 couples with 5 due reminders each, and one group with 12: all arrive, none twice, and
    the busy group's 11th waits for its limit (10 at once, then one every 6 s)."""
    world = sqlite_world
    groups = [world.sandbox.create_group(f"Couple {n}", [world.ana]) for n in range(40)]
    busy = world.sandbox.create_group("Busy", [world.ana])
    # Stopped while the rows are written: timers due at start-up are fired at once, where rows
    # written behind a running bot's back would wait for its 30 s sweep.
    assert await world.bot.stop() == 0
    due = world.bot.clock.now()
    seed_couples(world.bot.database_url, groups, reminders_each=5, due=due)
    seed_couples(world.bot.database_url, [busy], reminders_each=12, due=due)
    started = asyncio.get_running_loop().time()
    await world.bot.start()
    await _wait_for_sends(world.sandbox, 212, timeout=90)
    elapsed = asyncio.get_running_loop().time() - started
    await world.bot.settled()
    per_group = [len(world.sandbox.sends_to(group)) for group in groups]
    assert per_group == [5] * 40, per_group  # complete, and none twice
    busy_sends = [record.time for record in world.sandbox.sends_to(busy)]
    assert len(busy_sends) == 12 and len(world.sandbox.sent_log) == 212
    # The bucket lets ten through, then one every 6 s, counted from the first send's turn at
    # the limiter, which on a busy machine can be seconds before it reaches Telegram: the
    # twelfth leaves the limiter 12 s after the first, so it arrives at least 6 s after it
    # even with that much lag, where without the limiter all twelve go out within the burst's
    # first seconds. The exact bucket is checked on the built application (test_wiring.py).
    assert busy_sends[11] - busy_sends[0] >= 6, busy_sends
    print(f"burst: 212 timers delivered in {elapsed:.1f} s")


async def test_the_wake_up_alarm_alone_fires_a_timer(sqlite_url: str, tmp_path: Path) -> None:
    """The sweep runs once at start and then not for an hour (MEND_SWEEP_SECONDS=3600, so it
    cannot stand in for the alarm): a pause made afterwards still comes back on time."""
    async with scene(sqlite_url, tmp_path, MEND_SWEEP_SECONDS="3600") as world:
        await form_couple(world)
        mark = world.last_id(world.group)
        await world.say(world.ana, world.group, "/pause 20")
        await world.expect(world.group, "Ana asked for a break", after=mark)
        ben_chat = world.private(world.ben)
        ben_mark = world.last_id(ben_chat)
        world.advance(timedelta(minutes=21))
        await world.expect(ben_chat, "Ready to come back", after=ben_mark)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.postgres
async def test_two_webhook_processes_on_postgres_deliver_500_timers_once(
    tmp_path: Path,
) -> None:
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    from sandbox import BotApiSandbox
    from tests.conftest import drop_postgres_database, fresh_postgres_database

    url = fresh_postgres_database()
    sandbox = BotApiSandbox()
    await sandbox.start()
    processes: list[BotProcess] = []
    try:
        for index in range(2):
            port = _free_port()
            workdir = tmp_path / f"p{index}"
            workdir.mkdir()
            # The timers are written behind the bots' backs, where only the sweep finds them:
            # a 2 s sweep, so both find them within seconds rather than up to 30 s.
            process = BotProcess(
                sandbox,
                url,
                workdir,
                WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
                WEBHOOK_SECRET="s3cret-token",
                WEBHOOK_PORT=str(port),
                MEND_SWEEP_SECONDS="2",
            )
            process.clock = processes[0].clock if processes else process.clock
            await process.start()
            processes.append(process)
        owner = sandbox.add_user("Owner")
        groups = [sandbox.create_group(f"Couple {n}", [owner]) for n in range(100)]
        seed_couples(url, groups, reminders_each=5, due=processes[0].clock.now())
        started = asyncio.get_running_loop().time()
        await _wait_for_sends(sandbox, 500, timeout=90)
        elapsed = asyncio.get_running_loop().time() - started
        await processes[0].settled()
        per_group = [len(sandbox.sends_to(group)) for group in groups]
        assert per_group == [5] * 100, per_group
        assert len(sandbox.sent_log) == 500
        print(f"two processes: 500 timers in {elapsed:.1f} s ({500 / elapsed:.0f} msg/s)")
    finally:
        for process in processes:
            await process.stop()
        await sandbox.stop()
        drop_postgres_database(url)
    assert not sandbox.violations, sandbox.violations
