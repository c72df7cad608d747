"""A stranger (in the group, not in the couple) presses every live button: nothing changes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, SQLModel

from bot.db import make_engine, migrate, session_scope
from flows import buttons, checkin, data_rights, onboarding, pause, promises, repair
from flows.couples import Actor
from flows.features import load_all
from flows.outcome import Notice
from tests.helpers import ANA_ID, BEN_ID, STRANGER_ID, T0, in_group, in_private, make_couple
from tests.rows import Everything, fill_everything

Target = Callable[[Everything], int | None]
Prepare = Callable[[Everything], None]


def _nothing(_found: Everything) -> None:
    pass


def _pause_in(state: str) -> Prepare:
    def prepare(found: Everything) -> None:
        found.pause.state = state
        found.pause.proposed_return_at = T0 + timedelta(hours=2)

    return prepare


def _repair_in(state: str, step: str = "ownership") -> Prepare:
    def prepare(found: Everything) -> None:
        found.repair.state, found.repair.step = state, step
        found.repair.impact = found.repair.change = found.repair.need = "some words"

    return prepare


# Every button kind the product registers, each with every action it answers and a row it is
# live for. `test_every_registered_kind_is_in_the_table` keeps this list complete.
# A fourth element puts the row in the state the button is live in.
LIVE_BUTTONS: list[tuple[str, str, Target] | tuple[str, str, Target, Prepare]] = [
    (onboarding.JOIN, "in", lambda e: e.couple.id),
    *[(onboarding.LEAVE, action, lambda e: e.ana.id) for action in ("yes", "no", "wipe")],
    (pause.START, "30", lambda e: e.couple.id),
    *[(pause.PAUSE, action, lambda e: e.pause.id) for action in ("ok", "p60")],
    (pause.PAUSE, "acc", lambda e: e.pause.id, _pause_in(pause.PauseState.PROPOSED)),
    *[
        (pause.PAUSE, action, lambda e: e.pause.id, _pause_in(pause.PauseState.ASKING))
        for action in ("ready", "more")
    ],
    *[(checkin.KIND_CHECKIN, action, lambda e: e.open_checkin.id) for action in ("snooze", "skip")],
    *[
        (checkin.KIND_QUESTION, action, lambda e: e.open_checkin.id)
        for action in ("pass1", "edit1")
    ],
    (checkin.KIND_PROMISE, "make", lambda e: e.differently_answer.id),
    (checkin.KIND_SHARE, "share", lambda e: e.held_checkin.id),
    *[(promises.WHEN, action, lambda e: e.draft_promise.id) for action in ("tomorrow", "daily")],
    *[
        (promises.ANSWER, action, lambda e: e.asked_check.id)
        for action in ("kept", "not", "change")
    ],
    (promises.NOTICED, "yes", lambda e: e.kept_check.id),
    *[
        (promises.CHANGE, action, lambda e: e.promise.id)
        for action in ("menu", "words", "when", "keep", "drop")
    ],
    *[
        (repair.KIND, action, lambda e: e.repair.id)
        for action in ("cancel", "continue", "over", "keep")
    ],
    (repair.KIND, "plain", lambda e: e.repair.id, _repair_in("writing", "need")),
    *[
        (repair.KIND, action, lambda e: e.repair.id, _repair_in("review"))
        for action in ("post", "edit", "back", "e_impact")
    ],
    (repair.KIND, "promise", lambda e: e.repair.id, _repair_in("posted")),
    *[(data_rights.FORGET, action, lambda e: e.ana.id) for action in ("yes", "no")],
]


def _everything(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, as stored."""
    return {
        table.name: [
            tuple(row)
            for row in session.execute(select(table).order_by(*table.primary_key.columns))
        ]
        for table in SQLModel.metadata.sorted_tables
    }


# Kinds that arrived with this round's features and are not in the table yet; each has a
# stranger test of its own in its feature's tests (repair answers and the repair/hurt
# choice in test_repair_two_sided, thanks in test_thanks, the zone step in test_first_week).
# Listed, so a kind that is in neither list still fails the test below.
NOT_YET_IN_THE_TABLE = {"cc", "cim", "cit", "hn", "lg", "rpa", "rpc", "sr", "ty", "tz"}


def test_every_registered_kind_is_in_the_table() -> None:
    assert sorted(load_all().buttons) == sorted(
        {case[0] for case in LIVE_BUTTONS} | NOT_YET_IN_THE_TABLE
    )


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Everything]]:
    """One database for the whole table: each press runs in a transaction rolled back after."""
    path: Path = tmp_path_factory.mktemp("strangers") / "mend.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with session_scope(engine) as session:
        couple, ana, ben = make_couple(session)
        found = fill_everything(session, couple, ana, ben)
    yield engine, found
    engine.dispose()


def _press(
    engine: Engine, found: Everything, prepare: Prepare, actor: Actor, data: str
) -> tuple[list[Any], bool]:
    """Press, and say whether any row changed; nothing is kept."""
    with Session(engine, expire_on_commit=False) as session:
        found = Everything(
            **{name: session.merge(row, load=True) for name, row in vars(found).items()}
        )
        prepare(found)
        session.flush()
        before = _everything(session)
        effects = buttons.handle_press(session, actor, data, T0)
        session.flush()
        changed = _everything(session) != before
        session.rollback()
    return effects, changed


CASES = pytest.mark.parametrize(
    ("kind", "action", "target", "prepare"),
    [(*case, _nothing) if len(case) == 3 else case for case in LIVE_BUTTONS],
    ids=[f"{case[0]}-{case[1]}" for case in LIVE_BUTTONS],
)


@CASES
@pytest.mark.parametrize("where", ["group", "private"])
def test_a_stranger_pressing_a_live_button_changes_nothing(
    filled: tuple[Engine, Everything],
    kind: str,
    action: str,
    target: Target,
    prepare: Prepare,
    where: str,
) -> None:
    engine, found = filled
    data = buttons.data(kind, target(found) or 0, action)
    stranger: Actor = (
        in_group(STRANGER_ID, "Cleo") if where == "group" else in_private(STRANGER_ID, "Cleo")
    )
    effects, changed = _press(engine, found, prepare, stranger, data)
    assert effects and all(isinstance(effect, Notice) for effect in effects), effects
    assert not changed


@CASES
def test_the_buttons_in_the_table_are_live_for_someone_in_the_couple(
    filled: tuple[Engine, Everything], kind: str, action: str, target: Target, prepare: Prepare
) -> None:
    """So the stranger test above is about live buttons, not about ones that expired anyway."""
    engine, found = filled
    data = buttons.data(kind, target(found) or 0, action)
    answers = [
        _press(engine, found, prepare, actor, data)
        for actor in (
            in_group(ANA_ID, "Ana"),
            in_group(BEN_ID, "Ben"),
            in_private(ANA_ID, "Ana"),
            in_private(BEN_ID, "Ben"),
        )
    ]
    assert any(effects != buttons.expired() for effects, _changed in answers), answers
