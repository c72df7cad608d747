"""The one source of `now` for flows and timers, so tests and the demo can move time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment as an aware UTC datetime."""
        ...


class SystemClock:
    """Real time: what production runs on."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class OffsetFileClock:
    """Real time plus an offset in seconds read from a file (for tests and the demo).

    Another process moves time forward by rewriting the file; the bot rereads it
    whenever its modification time changes.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: float | None = None
        self._offset = timedelta()

    def _refresh(self) -> None:
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            self._offset = timedelta()
            return
        if stamp != self._stamp:
            text = self.path.read_text().strip() or "0"
            self._offset = timedelta(seconds=float(text))
            self._stamp = stamp

    def now(self) -> datetime:
        self._refresh()
        return datetime.now(UTC) + self._offset

    @property
    def offset(self) -> timedelta:
        """How far this clock is ahead of real time (reread when the file changed)."""
        self._refresh()
        return self._offset

    def advance(self, delta: timedelta) -> None:
        """Move time forward for every process reading this file."""
        self._refresh()
        self._offset += delta
        self.path.write_text(str(self._offset.total_seconds()))


class FixedClock:
    """A clock that only moves when told to: for flow and engine tests."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, moment: datetime) -> None:
        self._now = moment
