"""The inbox: stored once, handled per chat in order (one process at a time), marked done
with the flow's own transaction, given back on a stop; and the per-chat update processor."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, Text, func, select, type_coerce
from sqlmodel import Session
from telegram import Update

from bot.clock import FixedClock
from bot.db import session_scope
from bot.drainer import ChatOrderedProcessor, InboxDrainer, InboxQueue
from bot.inbox import CURRENT_CLAIM, INBOX_CLAIM_TIMEOUT, Claim, InboxStore, LostClaim
from bot.runtime import Runtime
from flows.models import Inbox
from flows.outcome import Effects
from flows.secret import configure_data_key, generate_key
from tests.helpers import T0

GROUP_A, GROUP_B = -4001, -4002


@pytest.fixture
def engine(any_engine: Engine) -> Engine:
    return any_engine


def update_json(update_id: int, chat_id: int, text: str = "/help") -> dict[str, Any]:
    chat_type = "private" if chat_id > 0 else "group"
    chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
    if chat_type == "group":
        chat["title"] = "Ana & Ben"
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 0,
            "chat": chat,
            "text": text,
            "from": {"id": 101, "is_bot": False, "first_name": "Ana"},
        },
    }


def store(inbox: InboxStore, update_id: int, chat_id: int, text: str = "/help") -> bool:
    payload = json.dumps(update_json(update_id, chat_id, text))
    stored, _claimed = inbox.store_and_claim(update_id, chat_id, payload, claim=False)
    return stored


def states(engine: Engine) -> dict[int, tuple[str, bool]]:
    """update_id -> (state, payload kept?)"""
    with Session(engine) as session:
        rows = session.execute(select(Inbox.update_id, Inbox.state, Inbox.payload))
        return {update_id: (state, payload is not None) for update_id, state, payload in rows}


def test_an_update_delivered_twice_is_stored_once(engine: Engine) -> None:
    inbox = InboxStore(engine, FixedClock(T0))
    assert store(inbox, 1, GROUP_A)
    assert not store(inbox, 1, GROUP_A)
    assert len(states(engine)) == 1


def test_one_chat_is_claimed_by_one_claimant_at_a_time_in_update_order(engine: Engine) -> None:
    inbox = InboxStore(engine, FixedClock(T0))
    for update_id, chat in ((3, GROUP_A), (1, GROUP_A), (2, GROUP_B), (4, GROUP_A)):
        store(inbox, update_id, chat)
    first = inbox.claim(max_chats=10, per_chat=2)
    assert sorted((row.chat_id, row.update_id) for row in first) == [
        (GROUP_B, 2),
        (GROUP_A, 1),
        (GROUP_A, 3),
    ]
    assert [row.update_id for row in first if row.chat_id == GROUP_A] == [1, 3]
    # Another process (or this one again) gets nothing of a chat that is being handled,
    # not even its later rows, so they cannot overtake the earlier ones.
    assert inbox.claim(max_chats=10) == []
    for row in first:
        if row.chat_id == GROUP_A:
            inbox.finish(Claim(row.row_id, row.claimed_at))
    assert [row.update_id for row in inbox.claim(max_chats=10)] == [4]


def test_a_claim_of_a_dead_process_is_taken_over_after_the_timeout(engine: Engine) -> None:
    clock = FixedClock(T0)
    inbox = InboxStore(engine, clock)
    store(inbox, 1, GROUP_A)
    assert len(inbox.claim()) == 1
    clock.advance(INBOX_CLAIM_TIMEOUT - timedelta(seconds=1))
    assert inbox.claim() == []
    clock.advance(timedelta(seconds=2))
    taken = inbox.claim()
    assert [row.update_id for row in taken] == [1]


def test_done_erases_the_payload_and_a_released_row_cannot_be_finished(engine: Engine) -> None:
    inbox = InboxStore(engine, FixedClock(T0))
    store(inbox, 1, GROUP_A)
    store(inbox, 2, GROUP_B)
    one, two = sorted(inbox.claim(), key=lambda row: row.update_id)
    with session_scope(engine) as session:
        InboxStore.finish_in(session, Claim(one.row_id, one.claimed_at), T0)
    assert states(engine)[1] == ("done", False)
    assert inbox.release([two]) == 1
    assert states(engine)[2] == ("pending", True)
    # The flow of a released row is rolled back: its update is handled again later.
    with pytest.raises(LostClaim), session_scope(engine) as session:
        InboxStore.finish_in(session, Claim(two.row_id, two.claimed_at), T0)
    assert states(engine)[2] == ("pending", True)


def test_the_waiting_payload_is_encrypted_with_the_data_key(engine: Engine) -> None:
    configure_data_key(generate_key())
    try:
        inbox = InboxStore(engine, FixedClock(T0))
        store(inbox, 1, GROUP_A, "/promise call my mother")
        with Session(engine) as session:
            raw = session.execute(select(type_coerce(Inbox.payload, Text()))).scalar_one()
        assert raw.startswith("enc1:") and "mother" not in raw
        assert "mother" in (inbox.claim()[0].payload or "")
    finally:
        configure_data_key(None)


async def test_the_flow_transaction_marks_its_update_done(engine: Engine) -> None:
    clock = FixedClock(T0)
    inbox = InboxStore(engine, clock)
    store(inbox, 1, GROUP_A)
    store(inbox, 2, GROUP_A)
    one, two = inbox.claim()
    runtime = Runtime(engine, clock)

    def nothing(_session: Session, _now: Any) -> Effects:
        return []

    def fails(_session: Session, _now: Any) -> Effects:
        raise RuntimeError("the flow broke")

    claim = Claim(one.row_id, one.claimed_at)
    token = CURRENT_CLAIM.set(claim)
    try:
        await runtime.run(nothing)
    finally:
        CURRENT_CLAIM.reset(token)
    assert claim.done and states(engine)[1] == ("done", False)
    token = CURRENT_CLAIM.set(Claim(two.row_id, two.claimed_at))
    try:
        with pytest.raises(RuntimeError):
            await runtime.run(fails)
    finally:
        CURRENT_CLAIM.reset(token)
    assert states(engine)[2] == ("claimed", True)


def as_update(update_id: int, chat_id: int) -> Update:
    return Update.de_json(update_json(update_id, chat_id), None)


async def test_the_processor_keeps_one_chats_order_and_lets_other_chats_pass() -> None:
    processor = ChatOrderedProcessor(8)
    log: list[str] = []
    release_a1 = asyncio.Event()

    async def handle(name: str, gate: asyncio.Event | None = None) -> None:
        log.append(f"start {name}")
        if gate is not None:
            await gate.wait()
        await asyncio.sleep(0)
        log.append(f"end {name}")

    tasks = [
        asyncio.create_task(
            processor.process_update(as_update(1, GROUP_A), handle("a1", release_a1))
        ),
        asyncio.create_task(processor.process_update(as_update(2, GROUP_A), handle("a2"))),
        asyncio.create_task(processor.process_update(as_update(3, GROUP_B), handle("b1"))),
    ]
    await asyncio.sleep(0.05)
    # Chat B is done while chat A's first update is still running; A's second waits.
    assert "end b1" in log and "start a2" not in log
    release_a1.set()
    await asyncio.gather(*tasks)
    assert log.index("end a1") < log.index("start a2")


async def test_the_processor_bounds_the_updates_in_flight() -> None:
    processor = ChatOrderedProcessor(2)
    running, most = 0, 0

    async def handle() -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1

    await asyncio.gather(
        *(processor.process_update(as_update(i, -5000 - i), handle()) for i in range(10))
    )
    assert most == 2


class FakeApplication:
    """What the drainer needs of PTB's Application: a bot, the processor, the handlers."""

    def __init__(self, handle: Any) -> None:
        self.bot = None
        self.update_processor = ChatOrderedProcessor(4)
        self.handle = handle

    async def process_update(self, update: Update) -> None:
        await self.handle(update)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


async def wait_until(condition: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_the_drainer_handles_each_chat_in_order_and_marks_every_update_done(
    engine: Engine, clock: FixedClock
) -> None:
    seen: list[tuple[int, int]] = []

    async def handle(update: Update) -> None:
        assert update.effective_chat is not None
        seen.append((update.effective_chat.id, update.update_id))
        await asyncio.sleep(0.005)

    inbox = InboxStore(engine, clock)
    expected = {GROUP_A: list(range(1, 41, 2)), GROUP_B: list(range(2, 41, 2))}
    for chat_id, ids in expected.items():
        for update_id in ids:
            store(inbox, update_id, chat_id)
    drainer = InboxDrainer(FakeApplication(handle), inbox, 4)  # type: ignore[arg-type]
    await drainer.start()
    try:
        await wait_until(lambda: len(seen) == 40)
        await wait_until(lambda: all(state == "done" for state, _ in states(engine).values()))
    finally:
        await drainer.stop(1.0)
    for chat_id, ids in expected.items():
        assert [update_id for chat, update_id in seen if chat == chat_id] == ids
    assert not any(kept for _state, kept in states(engine).values())


async def test_a_stop_lets_running_handlers_finish_and_leaves_the_rest_waiting(
    engine: Engine, clock: FixedClock
) -> None:
    started: list[int] = []
    forever = asyncio.Event()

    async def handle(update: Update) -> None:
        started.append(update.update_id)
        if update.update_id == 1:
            await forever.wait()  # a handler that does not finish within the grace

    inbox = InboxStore(engine, clock)
    for update_id in range(1, 6):
        store(inbox, update_id, GROUP_A)
    drainer = InboxDrainer(FakeApplication(handle), inbox, 4)  # type: ignore[arg-type]
    await drainer.start()
    await wait_until(lambda: started == [1])
    loop = asyncio.get_running_loop()
    began = loop.time()
    await drainer.stop(0.3)
    assert loop.time() - began < 2.0
    # Nothing was lost: all five wait for the next start, the interrupted one included.
    assert {update_id: state for update_id, (state, _kept) in states(engine).items()} == {
        update_id: "pending" for update_id in range(1, 6)
    }
    seen: list[int] = []

    async def record(update: Update) -> None:
        seen.append(update.update_id)

    again = InboxDrainer(FakeApplication(record), inbox, 4)  # type: ignore[arg-type]
    await again.start()
    try:
        await wait_until(lambda: seen == [1, 2, 3, 4, 5])
    finally:
        await again.stop(1.0)


def store_claiming(inbox: InboxStore, update_id: int, chat_id: int) -> tuple[bool, Any]:
    payload = json.dumps(update_json(update_id, chat_id))
    return inbox.store_and_claim(update_id, chat_id, payload, claim=True)


def test_an_update_of_an_idle_chat_is_stored_claimed_and_a_later_one_waits(
    engine: Engine,
) -> None:
    inbox = InboxStore(engine, FixedClock(T0))
    stored, first = store_claiming(inbox, 1, GROUP_A)
    assert stored and first is not None and first.update_id == 1
    assert first.payload is not None and json.loads(first.payload)["update_id"] == 1
    # The chat is being handled: the next update waits for the drainer, in order.
    assert store_claiming(inbox, 2, GROUP_A) == (True, None)
    # Another chat is idle.
    assert store_claiming(inbox, 3, GROUP_B)[1] is not None
    # A redelivery is neither stored nor claimed.
    assert store_claiming(inbox, 1, GROUP_A) == (False, None)
    assert {update_id: state for update_id, (state, _kept) in states(engine).items()} == {
        1: "claimed",
        2: "pending",
        3: "claimed",
    }
    inbox.finish(Claim(first.row_id, first.claimed_at))
    # Update 2 still waits: update 4 must not overtake it.
    assert store_claiming(inbox, 4, GROUP_A) == (True, None)
    assert [row.update_id for row in inbox.claim_chats([GROUP_A])] == [2, 4]


def test_a_chat_another_process_is_claiming_is_not_claimed_on_store(engine: Engine) -> None:
    """Two sessions interleaved: while another process holds the chat's lock (its claim
    is under way, not committed), the update is stored waiting, not claimed."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite: one writer; the other claim is already committed (test above)")
    inbox = InboxStore(engine, FixedClock(T0))
    with Session(engine) as other:
        # The lock claim_chats takes for the chat, held in an open transaction.
        assert other.execute(select(func.pg_try_advisory_xact_lock(GROUP_A))).scalar()
        assert store_claiming(inbox, 1, GROUP_A) == (True, None)
        assert store_claiming(inbox, 2, GROUP_B)[1] is not None
        other.rollback()
    assert [row.update_id for row in inbox.claim_chats([GROUP_A])] == [1]


async def test_updates_put_in_the_queue_of_idle_chats_skip_the_claim_and_keep_order(
    engine: Engine, clock: FixedClock
) -> None:
    seen: list[tuple[int, int]] = []

    async def handle(update: Update) -> None:
        assert update.effective_chat is not None
        seen.append((update.effective_chat.id, update.update_id))
        await asyncio.sleep(0.01)

    inbox = InboxStore(engine, clock)
    claims: list[int] = []
    claim_chats = inbox.claim_chats

    def counting(chats: Any, per_chat: int = 10) -> Any:
        rows = claim_chats(chats, per_chat)
        claims.append(len(rows))
        return rows

    inbox.claim_chats = counting  # type: ignore[method-assign]
    drainer = InboxDrainer(FakeApplication(handle), inbox, 4)  # type: ignore[arg-type]
    queue = InboxQueue()
    queue.store, queue.drainer = inbox, drainer
    await drainer.start()
    try:
        # One update at a time, each handled before the next: every one is stored claimed.
        def all_done() -> bool:
            finished = all(state == "done" for state, _ in states(engine).values())
            return finished and all(task.done() for task in drainer._busy.values())

        for update_id in (1, 2):
            await queue.put(as_update(update_id, GROUP_A))
            await wait_until(all_done)
        assert sum(claims) == 0
        # A burst: the first of each chat is stored claimed, the rest wait and are claimed
        # by the drainer, and each chat keeps its order.
        for update_id in range(3, 23):
            await queue.put(as_update(update_id, GROUP_A if update_id % 2 else GROUP_B))
        await wait_until(lambda: len(seen) == 22)
        await wait_until(lambda: all(state == "done" for state, _ in states(engine).values()))
    finally:
        await drainer.stop(1.0)
    assert [u for chat, u in seen if chat == GROUP_A] == [1, 2, *range(3, 23, 2)]
    assert [u for chat, u in seen if chat == GROUP_B] == list(range(4, 23, 2))
    assert 0 < sum(claims) < 20


@pytest.mark.parametrize("then", ["handled", "given back at a stop"])
async def test_an_update_whose_writer_was_cancelled_is_not_left_claimed_by_nobody(
    engine: Engine, clock: FixedClock, then: str
) -> None:
    """Polling stops (its task is cancelled) while an update is being stored claimed: the
    write finishes in its thread, and the row is then handled, or given back at a stop,
    instead of staying claimed until the claim times out."""
    seen: list[int] = []

    async def handle(update: Update) -> None:
        seen.append(update.update_id)

    inbox = InboxStore(engine, clock)
    writing, go_on = threading.Event(), threading.Event()
    store_and_claim = inbox.store_and_claim

    def slow(*args: Any, **kwargs: Any) -> Any:
        writing.set()
        go_on.wait(5)
        return store_and_claim(*args, **kwargs)

    inbox.store_and_claim = slow  # type: ignore[method-assign]
    drainer = InboxDrainer(FakeApplication(handle), inbox, 4)  # type: ignore[arg-type]
    queue = InboxQueue()
    queue.store, queue.drainer = inbox, drainer
    await drainer.start()
    try:
        put = asyncio.create_task(queue.put(as_update(1, GROUP_A)))
        await asyncio.to_thread(writing.wait, 5)
        put.cancel()
        with pytest.raises(asyncio.CancelledError):
            await put
        if then == "handled":
            go_on.set()
            await wait_until(lambda: seen == [1])
            await wait_until(lambda: states(engine)[1][0] == "done")
        else:
            stopping = asyncio.create_task(drainer.stop(2.0))
            await asyncio.sleep(0.05)
            go_on.set()
            await stopping
            assert states(engine)[1][0] == "pending" and seen == []
    finally:
        go_on.set()
        await drainer.stop(1.0)
