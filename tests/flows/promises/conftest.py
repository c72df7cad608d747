"""Fixtures for the promise tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlmodel import Session

from flows import feature


@pytest.fixture
def quiet() -> Iterator[set[int]]:
    """A fake pause: couples whose ids are in the set are quiet."""
    paused: set[int] = set()

    def check(session: Session, couple_id: int, now: datetime) -> bool:
        return couple_id in paused

    with feature.replaced(quiet_checks=(*feature.installed().quiet_checks, check)):
        yield paused
