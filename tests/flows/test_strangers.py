"""A stranger presses every live button: nothing changes, and they hear a kind word.

A stranger is anyone the button was not sent to: someone in the couple's group who is not in
the couple, or a partner of another couple with a payload of this couple's (a button's data
comes back from the client, so it is checked, never trusted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, SQLModel

from bot.db import make_engine, migrate, session_scope
from flows import (
    buttons,
    checkin,
    choosing,
    data_rights,
    hurt,
    language,
    onboarding,
    pause,
    promises,
    repair,
    restart,
    thanks,
)
from flows.couples import Actor
from flows.features import load_all
from flows.outcome import Notice, Text
from tests.helpers import (
    ANA_ID,
    BEN_ID,
    STRANGER_ID,
    T0,
    in_group,
    in_private,
    make_couple,
    shown,
)
from tests.rows import Everything, fill_everything

Target = Callable[[Everything], int | None]
Prepare = Callable[[Everything], None]
DAN_ID, DANS_PARTNER_ID, OTHER_GROUP_ID = 404, 505, -2002
# What a stranger hears where the button is not theirs to press: that it has expired (it
# has, for them), or for "I'm in" of a formed couple, that a couple is two people.
KIND_WORDS = {"common.button_expired", "onboarding.couple_full"}


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


def _hurt_note_in_review(found: Everything) -> None:
    found.hurt_note.state, found.hurt_note.step = hurt.REVIEW, hurt.STEPS[-1]


@dataclass(frozen=True)
class Live:
    """A button as the couple gets it: its kind, its action, what it points at, and how to put
    the rows in the state where it works. `action` may depend on the rows (a couple's id)."""

    kind: str
    action: str | Callable[[Everything], str]
    target: Target
    prepare: Prepare = _nothing
    # A button anyone in a couple may press in private for themselves (their own language):
    # a partner of another couple pressing it there is not a stranger to it.
    personal: bool = False

    def data(self, found: Everything) -> str:
        action = self.action(found) if callable(self.action) else self.action
        return buttons.data(self.kind, self.target(found) or 0, action)

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.action if isinstance(self.action, str) else 'id'}"


# Every button kind the product registers, each with every action it answers and a row it is
# live for. `test_every_registered_kind_is_in_the_table` keeps this list complete.
LIVE_BUTTONS: list[Live] = [
    Live(onboarding.JOIN, "in", lambda e: e.couple.id),
    *[Live(onboarding.ZONE, action, lambda e: e.couple.id) for action in ("ok", "change")],
    *[Live(onboarding.LEAVE, action, lambda e: e.ana.id) for action in ("yes", "no", "wipe")],
    *[Live(language.KIND, name, lambda e: e.couple.id) for name in ("en", "de")],
    Live(language.KIND, "de", lambda e: 0, personal=True),
    Live(choosing.CHOOSE, lambda e: str(e.couple.id), lambda e: e.couple_choice.id),
    Live(pause.START, "30", lambda e: e.couple.id),
    *[Live(pause.PAUSE, action, lambda e: e.pause.id) for action in ("ok", "p60")],
    Live(pause.PAUSE, "acc", lambda e: e.pause.id, _pause_in(pause.PauseState.PROPOSED)),
    *[
        Live(pause.PAUSE, action, lambda e: e.pause.id, _pause_in(pause.PauseState.ASKING))
        for action in ("ready", "more")
    ],
    Live(restart.KIND, "go", lambda e: e.ended_pause.id),
    *[
        Live(checkin.KIND_MENU, action, lambda e: e.couple.id)
        for action in ("now", "move", "off", "on")
    ],
    # Wednesday 20:30, one of the times offered for "wednesday evening".
    Live(checkin.KIND_TIME, "22030", lambda e: e.couple.id),
    *[
        Live(checkin.KIND_CHECKIN, action, lambda e: e.open_checkin.id)
        for action in ("snooze", "skip")
    ],
    *[
        Live(checkin.KIND_QUESTION, action, lambda e: e.open_checkin.id)
        for action in ("pass1", "edit1")
    ],
    Live(checkin.KIND_PROMISE, "make", lambda e: e.differently_answer.id),
    Live(checkin.KIND_SHARE, "share", lambda e: e.held_checkin.id),
    *[
        Live(promises.WHEN, action, lambda e: e.draft_promise.id)
        for action in ("tomorrow", "daily")
    ],
    *[
        Live(promises.ANSWER, action, lambda e: e.asked_check.id)
        for action in ("kept", "not", "change")
    ],
    Live(promises.NOTICED, "yes", lambda e: e.kept_check.id),
    *[
        Live(promises.CHANGE, action, lambda e: e.promise.id)
        for action in ("menu", "words", "when", "keep", "drop")
    ],
    *[
        Live(repair.CHOOSE, action, lambda e: e.ana.id, _repair_in("posted"))
        for action in ("apology", "hurt")
    ],
    *[
        Live(repair.KIND, action, lambda e: e.repair.id)
        for action in ("cancel", "continue", "over", "keep")
    ],
    Live(repair.KIND, "plain", lambda e: e.repair.id, _repair_in("writing", "need")),
    *[
        Live(repair.KIND, action, lambda e: e.repair.id, _repair_in("review"))
        for action in ("post", "edit", "back", "e_impact")
    ],
    Live(repair.KIND, "promise", lambda e: e.repair.id, _repair_in("posted")),
    *[
        Live(repair.ANSWER, action, lambda e: e.repair.id, _repair_in("posted"))
        for action in repair.ANSWERS
    ],
    Live(hurt.KIND, "cancel", lambda e: e.hurt_note.id),
    *[
        Live(hurt.KIND, action, lambda e: e.hurt_note.id, _hurt_note_in_review)
        for action in ("share", "keep")
    ],
    *[Live(thanks.KIND, action, lambda e: e.thanks.id) for action in ("p", "g", "x")],
    *[Live(data_rights.FORGET, action, lambda e: e.ana.id) for action in ("yes", "no")],
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


def test_every_registered_kind_is_in_the_table() -> None:
    assert sorted(load_all().buttons) == sorted({case.kind for case in LIVE_BUTTONS})


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Everything]]:
    """One database for the whole table: each press runs in a transaction rolled back after.

    Beside Ana and Ben there is Dan, a partner in a couple of his own, in another group."""
    path: Path = tmp_path_factory.mktemp("strangers") / "mend.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    # The shell wraps every couple command this way when it wires them (bot/shell.py); the
    # "which couple?" button runs the command it names from there.
    choosing.for_couple("settings", onboarding.show_settings)
    with session_scope(engine) as session:
        couple, ana, ben = make_couple(session)
        found = fill_everything(session, couple, ana, ben)
        make_couple(
            session,
            group_id=OTHER_GROUP_ID,
            names=("Dan", "Eve"),
            user_ids=(DAN_ID, DANS_PARTNER_ID),
        )
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


CASES = pytest.mark.parametrize("live", LIVE_BUTTONS, ids=[case.name for case in LIVE_BUTTONS])

# Who presses: Cleo, in no couple, in Ana and Ben's group (she can see their buttons there) or
# in her private chat (a press there carries a payload she was never sent); Dan, a partner of
# another couple, in his own group or his private chat, with a payload of Ana and Ben's.
STRANGERS = {
    "group": in_group(STRANGER_ID, "Cleo"),
    "private": in_private(STRANGER_ID, "Cleo"),
    "own-group": in_group(DAN_ID, "Dan", group_id=OTHER_GROUP_ID),
    "own-private": in_private(DAN_ID, "Dan"),
}
# Dan's own language is his to set: that button, in his private chat, is his too.
PRESSES = [
    pytest.param(live, who, id=f"{who}-{live.name}")
    for live in LIVE_BUTTONS
    for who in STRANGERS
    if not (live.personal and who == "own-private")
]


@pytest.mark.parametrize(("live", "who"), PRESSES)
def test_a_stranger_pressing_a_live_button_changes_nothing_and_hears_a_kind_word(
    filled: tuple[Engine, Everything], live: Live, who: str
) -> None:
    engine, found = filled
    effects, changed = _press(engine, found, live.prepare, STRANGERS[who], live.data(found))
    assert not changed
    [notice] = effects
    assert isinstance(notice, Notice)
    if who == "group" and live.kind not in load_all().open_buttons:
        # Issue 16: in the group the button is still live for the two of them, so she hears
        # whose it is, not that it expired; the same for a button meant for one of them only.
        assert notice == Notice(Text("common.button_for_couple", {"a": "Ana", "b": "Ben"}), True)
        assert shown(notice.body).startswith("This is for Ana and Ben.")
    else:
        assert notice.body.key in KIND_WORDS, notice


@CASES
def test_the_buttons_in_the_table_are_live_for_someone_in_the_couple(
    filled: tuple[Engine, Everything], live: Live
) -> None:
    """So the stranger test above is about live buttons, not about ones that expired anyway."""
    engine, found = filled
    answers = [
        _press(engine, found, live.prepare, actor, live.data(found))
        for actor in (
            in_group(ANA_ID, "Ana"),
            in_group(BEN_ID, "Ben"),
            in_private(ANA_ID, "Ana"),
            in_private(BEN_ID, "Ben"),
        )
    ]
    assert any(effects != buttons.expired() for effects, _changed in answers), answers
