"""A note of what hurt: picked up where it waits, and the newest one shared is the one read."""

from __future__ import annotations

from sqlmodel import Session

from flows import hurt, repair
from flows.hurt import HurtNote
from flows.outcome import ToPartner
from tests.helpers import BEN_ID, T0, in_private, keys, make_couple, sends, shown


def _note(session: Session, partner_id: int, couple_id: int, state: str, happened: str) -> HurtNote:
    note = HurtNote(
        couple_id=couple_id,
        partner_id=partner_id,
        state=state,
        step=hurt.STEPS[-1],
        happened=happened,
        meant="That I don't matter.",
        started_at=T0,
        updated_at=T0,
    )
    session.add(note)
    session.flush()
    return note


def test_repair_again_with_a_note_in_review_shows_that_note_again(session: Session) -> None:
    couple, _ana, ben = make_couple(session)
    _note(session, ben.id or 0, couple.id or 0, hurt.REVIEW, "You left mid-sentence.")
    effects = repair.start_repair(session, in_private(BEN_ID, "Ben"), "", T0)
    assert keys(effects) == ["repair.hurt_continuing", "repair.hurt_review"]
    review = sends(effects)[1]
    assert review.to == ToPartner(ben.id or 0)
    assert "You left mid-sentence." in shown(review.body) and "Ana" in shown(review.body)


def test_of_two_shared_notes_the_newest_is_the_one_read(session: Session) -> None:
    couple, ana, ben = make_couple(session)
    _note(session, ben.id or 0, couple.id or 0, hurt.SHARED, "The older one.")
    newer = _note(session, ben.id or 0, couple.id or 0, hurt.SHARED, "The newer one.")
    assert hurt.shared_note_for(session, ana) == newer
