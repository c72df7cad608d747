"""The real bot at LOG_LEVEL=DEBUG: what people write and the token never reach the log."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sandbox.testing import TEST_TOKEN
from tests.e2e.harness import scene

pytestmark = pytest.mark.e2e

MARKER = "zebra-marker-7781"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_debug_log_carries_neither_what_people_write_nor_the_token(
    sqlite_url: str, tmp_path: Path, mode: str
) -> None:
    extra = {"LOG_LEVEL": "DEBUG"}
    if mode == "webhook":
        port = _free_port()
        extra.update(
            WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
            WEBHOOK_SECRET="s3cret-token",
            WEBHOOK_PORT=str(port),
        )
    async with scene(sqlite_url, tmp_path, **extra) as world:
        world.sandbox.add_bot_to_group(world.group, by=world.ana)
        await world.expect(world.group, "I'm Mend")
        mark = world.last_id(world.group)
        await world.say(world.ana, world.group, "/start")
        invite = await world.expect(world.group, "I'm in", after=mark)
        await world.press(world.ana, invite, "I'm in")
        await world.press(world.ben, invite, "I'm in")
        await world.expect(world.group, "you're set up", after=mark)
        mark = world.last_id(world.group)
        await world.say(world.ana, world.group, f"/promise {MARKER} daily")
        await world.expect(world.group, MARKER, after=mark)
        chat = world.private(world.ben)
        await world.say(world.ben, chat, "/start")
        await world.expect(chat, "connected")
        before = world.last_id(chat)
        await world.say(world.ben, chat, f"just saying {MARKER} here")
        await world.expect(chat, lambda message: True, after=before)
        await world.bot.stop()
        logs = world.bot.logs()
    assert " DEBUG " in logs  # the level really was DEBUG
    assert "Mend is ready" in logs
    for secret in (MARKER, TEST_TOKEN, TEST_TOKEN.split(":", 1)[1]):
        assert secret not in logs, secret
