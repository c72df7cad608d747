"""Two partners at the same moment: the second decides on what the first committed.

Each test runs two sessions in two threads and interleaves them the same way every
time: the first does its work and holds its transaction open; the second starts only
then, and the first commits only once the second has finished its work or is waiting
on a lock (PostgreSQL shows that in pg_stat_activity; SQLite, whose writers queue on
one lock, is given a moment once the second has issued its first write).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, event, text
from sqlmodel import Session, col, select

from bot.delivery.models import Timer
from bot.delivery.outbox import persist
from bot.delivery.timers import handle_due
from flows import buttons, checkin
from flows import pause as pause_flow
from flows.checkin import Checkin, CheckinTurn
from flows.inputs import Said, handle_text
from flows.outcome import Effects
from flows.pause import Pause
from tests.helpers import ANA_ID, BEN_ID, T0, in_group, in_private, keys, make_couple

Work = Callable[[Session], Effects]
PATIENCE = 60.0  # seconds: only ever reached when something is broken


@pytest.fixture
def engine(any_engine: Engine) -> Engine:
    return any_engine


def _waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        count = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
        ).scalar_one()
    return bool(count)


def interleave(engine: Engine, first: Work, second: Work) -> tuple[Effects, Effects]:
    """Run `first`, then `second` while `first` is still uncommitted; return both effects."""
    results: dict[str, Effects] = {}
    errors: list[BaseException] = []
    first_done, second_done, second_writes = (
        threading.Event(),
        threading.Event(),
        threading.Event(),
    )
    second_thread: list[threading.Thread] = []

    def spot_writes(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if threading.current_thread() in second_thread and statement.lstrip().upper().startswith(
            # On SQLite a transaction takes the write lock up front (BEGIN IMMEDIATE).
            ("UPDATE", "INSERT", "DELETE", "BEGIN")
        ):
            second_writes.set()

    def run_first() -> None:
        try:
            with Session(engine, expire_on_commit=False) as session:
                effects = first(session)
                persist(session, effects, T0, claim=False)
                session.flush()
                first_done.set()
                deadline = time.monotonic() + PATIENCE
                while not second_done.is_set() and time.monotonic() < deadline:
                    if engine.dialect.name == "postgresql" and _waiting_on_a_lock(engine):
                        break
                    if engine.dialect.name == "sqlite" and second_writes.wait(0.05):
                        time.sleep(0.5)  # its write now queues behind ours
                        break
                    time.sleep(0.02)
                results["first"] = effects
                session.commit()
        except BaseException as exc:  # reported by the test below
            errors.append(exc)
            first_done.set()

    def run_second() -> None:
        try:
            assert first_done.wait(PATIENCE)
            with Session(engine, expire_on_commit=False) as session:
                effects = second(session)
                persist(session, effects, T0, claim=False)
                session.flush()
                second_done.set()
                results["second"] = effects
                session.commit()
        except BaseException as exc:
            errors.append(exc)
            second_done.set()

    event.listen(engine, "before_cursor_execute", spot_writes)
    try:
        threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
        second_thread.append(threads[1])
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(PATIENCE * 2)
    finally:
        event.remove(engine, "before_cursor_execute", spot_writes)
    assert not errors, errors
    return results["first"], results["second"]


def _fire_due(session: Session, now: object) -> Effects:
    out: Effects = []
    query = select(Timer).where(Timer.state == "pending", col(Timer.due_at) <= now)
    for timer in list(session.exec(query.order_by(col(Timer.due_at)))):
        effects, state, late = handle_due(session, timer, now)  # type: ignore[arg-type]
        timer.state = state
        session.add(timer)
        persist(session, effects, now, claim=False, late=late)  # type: ignore[arg-type]
        out.extend(effects)
    session.flush()
    return out


def test_both_pressing_im_ready_at_once_ends_the_pause(engine: Engine) -> None:
    back_at = T0 + timedelta(hours=1)
    with Session(engine, expire_on_commit=False) as session:
        make_couple(session)
        started = pause_flow.pause(session, in_group(ANA_ID, "Ana"), "60", T0)
        persist(session, started, T0, claim=False)
        _fire_due(session, back_at)
        row = session.exec(select(Pause)).one()
        assert row.state == pause_flow.PauseState.ASKING
        session.commit()
    ready = buttons.data(pause_flow.PAUSE, row.id or 0, "ready")
    moment = back_at + timedelta(minutes=2)

    def press(user_id: int) -> Work:
        return lambda session: buttons.handle_press(session, in_private(user_id), ready, moment)

    ana, ben = interleave(engine, press(ANA_ID), press(BEN_ID))
    assert keys(ana) == ["pause.ready_notice", "pause.ready_waiting"]
    # The one who was ready first also hears, privately, that both are back.
    assert keys(ben) == [
        "pause.ready_notice",
        "pause.ready_done",
        "pause.both_back",
        "pause.both_back_private",
    ]
    with Session(engine) as session:
        row = session.exec(select(Pause)).one()
        assert (row.state, row.outcome) == (pause_flow.PauseState.ENDED, pause_flow.Outcome.ON_TIME)
        # An hour later nothing records it as "not returned".
        assert "pause.not_returned" not in keys(_fire_due(session, back_at + timedelta(hours=2)))
        assert session.exec(select(Pause)).one().outcome == pause_flow.Outcome.ON_TIME


def test_two_last_checkin_answers_at_once_reveal_both(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        couple, _ana, _ben = make_couple(session)
        persist(
            session, checkin.checkin(session, in_group(ANA_ID, "Ana"), "now", T0), T0, claim=False
        )
        for number in (1, 2, 3):
            for user_id in (ANA_ID, BEN_ID):
                said = Said(f"{user_id} answer {number}")
                persist(
                    session, handle_text(session, in_private(user_id), said, T0), T0, claim=False
                )
        session.commit()
        couple_id = couple.id

    def answer(user_id: int) -> Work:
        return lambda session: handle_text(
            session, in_private(user_id), Said(f"{user_id} answer 4"), T0
        )

    ana, ben = interleave(engine, answer(ANA_ID), answer(BEN_ID))
    assert "checkin.thanks_waiting" in keys(ana)
    assert "checkin.reveal" in keys(ben)
    with Session(engine) as session:
        row = session.exec(select(Checkin).where(Checkin.couple_id == couple_id)).one()
        assert row.state == checkin.CheckinState.DONE
        turns = session.exec(select(CheckinTurn).where(CheckinTurn.checkin_id == row.id))
        assert all(turn.finished_at is not None for turn in turns)
