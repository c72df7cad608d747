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
    await asyncio.sleep(1.5)  # several sweeps later: still exactly one
    texts = [m.text or "" for m in world.sandbox.bot_messages(world.group)
             if m.message_id > mark]
    assert sum(REMINDER in text for text in texts) == 1


async def _wait_for_sends(world_sandbox: object, expected: int, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(world_sandbox.sent_log) < expected:  # type: ignore[attr-defined]
        if loop.time() > deadline:
            break
        await asyncio.sleep(0.1)


async def test_a_burst_of_200_due_timers_arrives_completely_once_within_limits(
    sqlite_url: str, tmp_path: Path,
) -> None:
    async with scene(sqlite_url, tmp_path, MEND_RATE_LIMIT="on") as world:
        await _burst(world)


async def _burst(world: Scene) -> None:
    groups = [world.sandbox.create_group(f"Couple {n}", [world.ana]) for n in range(40)]
    due = world.bot.clock.now()
    seed_couples(world.bot.database_url, groups, reminders_each=5, due=due)
    started = asyncio.get_running_loop().time()
    await _wait_for_sends(world.sandbox, 200, timeout=60)
    elapsed = asyncio.get_running_loop().time() - started
    per_group = [len(world.sandbox.sends_to(group)) for group in groups]
    assert per_group == [5] * 40, per_group  # complete, and none twice
    assert max(world.sandbox.max_sends_in_window(group, 60.0) for group in groups) <= 20
    await asyncio.sleep(1.0)
    assert len(world.sandbox.sent_log) == 200
    print(f"burst: 200 timers delivered in {elapsed:.1f} s ({200 / elapsed:.0f} msg/s)")


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
            process = BotProcess(sandbox, url, workdir, WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
                                 WEBHOOK_SECRET="s3cret-token", WEBHOOK_PORT=str(port),
                                 MEND_RATE_LIMIT="on")
            process.clock = processes[0].clock if processes else process.clock
            await process.start()
            processes.append(process)
        owner = sandbox.add_user("Owner")
        groups = [sandbox.create_group(f"Couple {n}", [owner]) for n in range(100)]
        seed_couples(url, groups, reminders_each=5, due=processes[0].clock.now())
        started = asyncio.get_running_loop().time()
        await _wait_for_sends(sandbox, 500, timeout=90)
        elapsed = asyncio.get_running_loop().time() - started
        await asyncio.sleep(1.0)
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
