"""Telling watchers that the world changed: tests waiting for a message, the demo page.

A :class:`Pulse` wakes every coroutine waiting for "something changed" (a test's
``wait_for_message``, a long poll); :class:`Subscribers` calls the callbacks given to
``BotApiSandbox.subscribe`` with each event.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sandbox.model import JSON

log = logging.getLogger(__name__)

EventCallback = Callable[[JSON], Any]


class Pulse:
    """Wakes every waiter whenever something changed."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(timeout, 0))


class Subscribers:
    """The callbacks told about every event; coroutine callbacks run as tasks.

    A failing callback is logged and never stops the sandbox or the other callbacks."""

    def __init__(self) -> None:
        self._callbacks: list[EventCallback] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    def add(self, callback: EventCallback) -> Callable[[], None]:
        """Adds ``callback``; returns the function that removes it again."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

        return unsubscribe

    def tell(self, event: JSON) -> None:
        for callback in list(self._callbacks):
            try:
                result = callback(event)
                if inspect.isawaitable(result):
                    self._spawn(result)
            except Exception:
                log.exception("sandbox subscriber failed")

    def cancel(self) -> None:
        """Cancels the coroutine callbacks still running (the sandbox stops)."""
        for task in list(self._tasks):
            task.cancel()

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        async def runner() -> None:
            try:
                await awaitable
            except Exception:
                log.exception("sandbox subscriber failed")

        task = asyncio.ensure_future(runner())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
