"""A promise's "when?" left behind by a newer one becomes one line without buttons."""

from __future__ import annotations

from sqlmodel import Session, col, select

from bot.delivery.models import Outbox
from bot.delivery.outbox import persist
from flows import promises
from flows.outcome import EditTagged, Effects, ToPartner, tidy_tag
from tests.helpers import ANA_ID, T0, in_group, make_couple


def promise_cmd(session: Session, args: str) -> Effects:
    effects = promises.make_promise(session, in_group(ANA_ID), args, T0)
    persist(session, effects, T0, claim=False)
    session.flush()
    return effects


def test_a_newer_when_question_turns_the_older_one_into_one_line(session: Session) -> None:
    _couple, ana, _ben = make_couple(session)
    promise_cmd(session, "call mum soon")
    older = session.exec(select(promises.Promise)).one()
    tag = tidy_tag(promises.WHEN_STEP, older.id or 0)
    newer = promise_cmd(session, "call dad soon")
    (edit,) = [effect for effect in newer if isinstance(effect, EditTagged)]
    assert edit.to == ToPartner(ana.id or 0) and edit.tag == tag and edit.buttons == ()
    rows = list(session.exec(select(Outbox).order_by(col(Outbox.id))))
    assert rows[0].tag == tag and rows[0].markup is None
    assert rows[0].body == "“call mum”: not made, a newer promise took its place."
    assert rows[-1].markup is not None  # the newer question keeps its buttons


def test_a_promise_made_at_once_leaves_an_open_when_question_alone(session: Session) -> None:
    make_couple(session)
    promise_cmd(session, "call mum soon")
    made = promise_cmd(session, "water the plants daily")
    assert not [effect for effect in made if isinstance(effect, EditTagged)]
