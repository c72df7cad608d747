"""Test helpers: a sandbox that is started, stopped and checked for violations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sandbox.transport import BotApiSandbox

TEST_TOKEN = "123456789:TEST-sandbox_token"


@asynccontextmanager
async def running_sandbox(
    *, check_violations: bool = True, **kwargs: Any
) -> AsyncIterator[BotApiSandbox]:
    """Start a :class:`BotApiSandbox` (kwargs go to its constructor), stop it afterwards.

    On a clean exit, asserts that no request broke the Bot API spec (``violations``).
    Suggested suite-wide fixture::

        @pytest.fixture
        async def sandbox() -> AsyncIterator[BotApiSandbox]:
            async with running_sandbox() as sb:
                yield sb
    """
    sandbox = BotApiSandbox(**kwargs)
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.stop()
    if check_violations:
        assert not sandbox.violations, f"Bot API violations: {sandbox.violations}"
