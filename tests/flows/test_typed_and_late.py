"""What people type at the edges (case, German words, answers at the length limit, nothing at
all) and buttons or replies that come after their moment."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from flows import buttons, checkin, inputs, language, pause, promises, repair, restart, thanks
from flows.couples import parse_zone
from flows.outcome import ToChat
from flows.pause import Pause
from flows.promises import Promise
from flows.restart import SoftRestart
from flows.timeparse import ONCE, parse_promise
from tests.helpers import (
    ANA_ID,
    BEN_ID,
    T0,
    in_group,
    in_private,
    keys,
    make_couple,
    sends,
    shown,
)

MIN = timedelta(minutes=1)


def test_a_zone_name_typed_in_lower_case_is_understood() -> None:
    assert parse_zone("europe/berlin") == "Europe/Berlin"
    assert parse_zone("america/new_york") == "America/New_York"


def test_by_the_end_of_the_week_is_understood_in_german() -> None:
    parsed = parse_promise("Mama anrufen bis Ende der Woche", "de")
    assert parsed.what == "Mama anrufen"
    assert parsed.when is not None and (parsed.when.repeat, parsed.when.weekday) == (ONCE, 6)


def test_a_when_typed_in_capitals_is_understood() -> None:
    parsed = parse_promise("call mum TOMORROW AT 7PM", "en")
    assert parsed.what == "call mum"
    assert parsed.when is not None and parsed.when.in_days == 1
    assert parsed.at is not None and parsed.at.hour == 19
    first = parse_promise("TOMORROW: call mum", "en")  # the when first, as some people write
    assert first.what == "call mum" and first.when is not None and first.when.in_days == 1


def test_a_german_partner_asks_when_the_checkin_is_in_german(session: Session) -> None:
    _couple, ana, _ben = make_couple(session)
    ana.language = "de"
    effects = checkin.checkin(session, in_group(ANA_ID), "wann", T0)
    assert keys(effects) == ["checkin.status"]


def test_an_empty_answer_to_what_for_asks_again_as_a_reply_prompt(session: Session) -> None:
    make_couple(session)
    [prompt] = sends(thanks.thanks(session, in_private(ANA_ID), "", T0))
    [again] = sends(
        inputs.handle_text(session, in_private(ANA_ID), inputs.Said("  ", prompt.tag), T0)
    )
    assert again.body.key == "thanks.ask_what" and again.force_reply and again.tag == prompt.tag


@pytest.mark.parametrize(
    ("length", "taken"), [(restart.MAX_ANSWER, True), (restart.MAX_ANSWER + 1, False)]
)
def test_a_soft_restart_answer_is_taken_up_to_its_limit(
    session: Session, length: int, taken: bool
) -> None:
    couple, ana, _ben = make_couple(session)
    row = SoftRestart(couple_id=couple.id or 0, pause_id=1, partner_id=ana.id or 0, created_at=T0)
    session.add(row)
    session.flush()
    said = inputs.Said("x" * length, f"{restart.TAG}:{row.id}:feeling", is_reply=True)
    effects = inputs.handle_text(session, in_private(ANA_ID), said, T0)
    assert (row.feeling is not None) is taken
    assert keys(effects) == (["pause.restart_ask_need"] if taken else ["common.too_long"])


def test_a_long_promise_is_cut_kindly_on_its_drop_button(session: Session) -> None:
    couple, ana, _ben = make_couple(session)
    words = "put my phone in the kitchen drawer at dinner"  # 44 characters
    session.add(
        Promise(
            couple_id=couple.id or 0,
            partner_id=ana.id or 0,
            number=1,
            what=words,
            state="active",
            created_at=T0,
        )
    )
    session.flush()
    [choose] = sends(promises.drop(session, in_group(ANA_ID), "", T0))
    [[button]] = choose.buttons
    assert shown(button.label) == f"End #1 {words[:31]}…"


def test_accepting_a_proposed_return_time_that_has_passed_changes_nothing(
    session: Session,
) -> None:
    make_couple(session)
    pause.pause(session, in_group(ANA_ID), "30", T0)
    row = session.exec(select(Pause)).one()
    buttons.handle_press(
        session, in_group(BEN_ID), buttons.data(pause.PAUSE, row.id or 0, "p60"), T0
    )
    assert row.state == pause.PauseState.PROPOSED
    accept = buttons.data(pause.PAUSE, row.id or 0, "acc")
    late = buttons.handle_press(session, in_group(ANA_ID), accept, T0 + 60 * MIN)
    assert keys(late) == ["pause.proposal_passed"]
    assert (row.state, row.return_at) == (pause.PauseState.PROPOSED, T0 + 30 * MIN)


def test_a_reply_to_a_repair_question_after_it_was_posted_is_told_so(session: Session) -> None:
    couple, ana, _ben = make_couple(session)
    done = repair.Repair(
        couple_id=couple.id or 0,
        partner_id=ana.id or 0,
        private=True,
        state="posted",
        started_at=T0,
        updated_at=T0,
    )
    session.add(done)
    session.flush()
    said = inputs.Said("one more thing", f"{repair.TAG}:{done.id}:impact", is_reply=True)
    effects = inputs.handle_text(session, in_private(ANA_ID), said, T0)
    assert keys(effects) == ["repair.not_waiting"]
    assert done.impact is None


def test_a_language_named_in_private_is_set_for_that_person_and_said_in_it(
    session: Session,
) -> None:
    _couple, ana, ben = make_couple(session)
    [said] = sends(language.choose(session, in_private(ANA_ID), "Deutsch", T0))
    assert (ana.language, ben.language) == ("de", "en")
    assert said.to == ToChat(ANA_ID, "de")
    assert shown(said.body, "de") == "Alles klar: Ich schreibe dir ab jetzt auf Deutsch."
