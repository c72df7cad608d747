"""End-to-end fixtures: each test gets a running bot process and its sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.harness import Scene, scene


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[Scene]:
    """The bot running against the sandbox, on SQLite and (when configured) PostgreSQL."""
    async with scene(database_url, tmp_path) as running:
        yield running


@pytest.fixture
async def sqlite_world(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Scene]:
    """The bot on SQLite only: for feature scenarios that do not depend on the backend."""
    async with scene(sqlite_url, tmp_path) as running:
        yield running
