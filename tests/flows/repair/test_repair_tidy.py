"""A repair stopped by typing ("stop", /repair stop) leaves its open question or review as
one line without buttons, as its own Cancel button would."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from bot.delivery.models import Outbox
from bot.delivery.outbox import persist
from flows import buttons, inputs
from flows.couples import Actor
from flows.hurt import HurtNote
from flows.outcome import EditTagged, Effects, ToPartner
from flows.repair import Repair, start_repair
from tests.helpers import ANA_ID, T0, in_private, make_couple

ANA = in_private(ANA_ID, "Ana")
STOPPED = (
    "Stopped. Nothing was posted, and the draft is deleted. Send /repair whenever you're ready."
)


def run(session: Session, effects: Effects) -> Effects:
    persist(session, effects, T0, claim=False)
    session.flush()
    return effects


def say(session: Session, words: str, tag: str | None = None) -> Effects:
    """Typed in private: the shell passes the latest question asked there as its tag."""
    said = inputs.Said(text=words, reply_to_tag=tag)
    return run(session, inputs.handle_text(session, ANA, said, T0))


def apologise(session: Session, actor: Actor = ANA) -> Repair:
    _couple, ana, _ben = make_couple(session)
    run(session, start_repair(session, actor, "", T0))
    choice = buttons.data("rpc", ana.id or 0, "apology")
    run(session, buttons.handle_press(session, actor, choice, T0))
    return session.exec(select(Repair)).one()


def row(session: Session, tag: str) -> Outbox:
    query = select(Outbox).where(Outbox.tag == tag).order_by(col(Outbox.id).desc())
    found = session.exec(query).first()
    assert found is not None, tag
    return found


def test_stop_typed_at_a_step_tidies_the_question_it_answered(session: Session) -> None:
    repair = apologise(session)
    say(session, "I raised my voice at you.")
    impact = f"repair:{repair.id}:impact"
    assert row(session, impact).markup is not None
    stopped = say(session, "stop")
    (edit,) = [effect for effect in stopped if isinstance(effect, EditTagged)]
    assert edit.to == ToPartner(repair.partner_id) and edit.tag == impact
    assert row(session, impact).markup is None and row(session, impact).body == STOPPED


def test_repair_stop_at_the_review_tidies_the_review(session: Session) -> None:
    repair = apologise(session)
    for answer in ("I raised my voice.", "You felt small.", "I'll pause first.", "tea?"):
        say(session, answer)
    assert repair.state == "review"
    review = f"repair:{repair.id}:review"
    assert row(session, review).markup is not None
    run(session, start_repair(session, ANA, "stop", T0))
    assert row(session, review).markup is None and row(session, review).body == STOPPED


@pytest.mark.parametrize("how", ["typed", "command"])
def test_stopping_a_hurt_note_by_typing_tidies_its_open_question(
    session: Session, how: str
) -> None:
    _couple, ana, _ben = make_couple(session)
    run(session, start_repair(session, ANA, "", T0))
    run(session, buttons.handle_press(session, ANA, buttons.data("rpc", ana.id or 0, "hurt"), T0))
    note = session.exec(select(HurtNote)).one()
    question = f"hurt:{note.id}:happened"
    assert row(session, question).markup is not None
    if how == "typed":
        say(session, "stop", tag=question)
    else:
        run(session, start_repair(session, ANA, "stop", T0))
    assert row(session, question).markup is None
    assert row(session, question).body.startswith("Stopped. Nothing was kept or shared.")
