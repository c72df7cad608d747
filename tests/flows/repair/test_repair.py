"""/repair: four steps, one gentle hint, review before posting, cancel and resume."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from flows import buttons, feature, hooks, inputs, onboarding
from flows.couples import Actor
from flows.models import Partner
from flows.outcome import EditOrigin, Effect, Send, Text, ToChat, ToGroup, ToPartner
from flows.repair import MAX_ANSWER, Repair, start_repair
from tests.helpers import (
    ANA_ID,
    BEN_ID,
    GROUP_ID,
    T0,
    all_text,
    button_data,
    edits,
    in_group,
    in_private,
    keys,
    make_couple,
    sends,
)

ANA = in_private(ANA_ID, "Ana")
ANSWERS = {
    "ownership": "I snapped at you when you asked about the rent.",
    "impact": "You probably felt pushed away, like your worry didn't count.",
    "change": "When I'm tense I'll say so and ask for ten minutes instead of snapping.",
}


def _say(session: Session, actor: object, words: str, tag: str | None = None) -> list[Effect]:
    said = inputs.Said(text=words, reply_to_tag=tag)
    return list(inputs.handle_text(session, actor, said, T0))  # type: ignore[arg-type]


def _press(session: Session, actor: object, repair: Repair, action: str) -> list[Effect]:
    data = buttons.data("rp", repair.id or 0, action)
    return list(buttons.handle_press(session, actor, data, T0))  # type: ignore[arg-type]


def _apologise(session: Session, actor: Actor) -> list[Effect]:
    """/repair, then "I want to apologise": what the apology's start shows (the choice
    itself left out)."""
    chosen = list(start_repair(session, actor, "", T0))
    partner = session.exec(select(Partner).where(Partner.user_id == actor.user_id)).first()
    if partner is None:
        return chosen
    pressed = list(
        buttons.handle_press(session, actor, buttons.data("rpc", partner.id or 0, "apology"), T0)
    )
    return [effect for effect in chosen + pressed if not _is_choice(effect)]


def _is_choice(effect: Effect) -> bool:
    body = getattr(effect, "body", None)
    return body is not None and body.key in {
        "repair.choose",
        "repair.choose_with_note",
        "repair.chose_apology",
    }


def _repair(session: Session) -> Repair:
    return session.exec(select(Repair)).one()


def _to_review(session: Session, actor: object = ANA) -> Repair:
    _apologise(session, actor)  # type: ignore[arg-type]
    for step in ("ownership", "impact", "change"):
        _say(session, actor, ANSWERS[step])
    _say(session, actor, "Can I make you tea and just sit with you?")
    repair = _repair(session)
    assert repair.state == "review"
    return repair


def _group_keys(effects: list[Effect]) -> list[str]:
    return [
        s.body.key
        for s in sends(effects)
        if isinstance(s.to, ToGroup) or (isinstance(s.to, ToChat) and s.to.chat_id == GROUP_ID)
    ]


@pytest.fixture
def no_promises() -> Iterator[None]:
    with feature.replaced(promise_offer=None):
        yield


@pytest.fixture
def offered() -> Iterator[list[str]]:
    """A stand-in promises feature that records what it was offered."""
    seen: list[str] = []

    def offer(session: Session, partner: Partner, what: str, now: object) -> list[Effect]:
        seen.append(what)
        return [Send(ToPartner(partner.id or 0), Text("common.button_expired"))]

    with feature.replaced(promise_offer=offer):
        yield seen


# ---- the four steps ---------------------------------------------------------------------------


def test_repair_asks_the_four_steps_in_order_in_the_private_chat(session: Session) -> None:
    make_couple(session)
    started = _apologise(session, ANA)
    assert keys(started) == ["repair.intro_private", "repair.ask_ownership"]
    assert all(isinstance(s.to, ToPartner) for s in sends(started))
    asked = [_say(session, ANA, ANSWERS[step]) for step in ("ownership", "impact", "change")]
    assert [keys(effects) for effects in asked] == [
        ["repair.ask_impact"],
        ["repair.ask_change"],
        ["repair.ask_need"],
    ]
    assert "how do you think it felt for Ben" in all_text(asked[0])
    review = _say(session, ANA, "Can I make you tea and just sit with you?")
    assert keys(review) == ["repair.review"]
    repair = _repair(session)
    assert (repair.ownership, repair.impact, repair.change) == (
        ANSWERS["ownership"],
        ANSWERS["impact"],
        ANSWERS["change"],
    )
    assert repair.need == "Can I make you tea and just sit with you?"


def test_the_review_shows_the_whole_message_with_post_edit_and_cancel(
    session: Session, no_promises: None
) -> None:
    make_couple(session)
    _apologise(session, ANA)
    for step in ("ownership", "impact", "change"):
        _say(session, ANA, ANSWERS[step])
    review = sends(_say(session, ANA, "Can I make you tea?"))[0]
    assert isinstance(review.to, ToPartner)
    shown = all_text([review])
    for answer in ANSWERS.values():
        assert answer in shown
    assert "Ben,\n\nI'm sorry. " + ANSWERS["ownership"] in shown
    assert shown.count("Ana") == 1 and "My part" not in shown
    repair = _repair(session)
    assert button_data(review) == [
        buttons.data("rp", repair.id or 0, action) for action in ("post", "sorry", "edit", "cancel")
    ]


def test_nothing_reaches_the_group_before_the_author_taps_post(session: Session) -> None:
    make_couple(session)
    effects = list(_apologise(session, ANA))
    for step in ("ownership", "impact", "change"):
        effects += _say(session, ANA, ANSWERS[step])
    effects += _say(session, ANA, "ok")
    assert _group_keys(effects) == []
    posted = _press(session, ANA, _repair(session), "post")
    group = [s for s in sends(posted) if isinstance(s.to, ToGroup)]
    assert [s.body.key for s in group] == ["repair.posted_group"]
    assert ANSWERS["ownership"] in all_text(group)
    assert _repair(session).state == "posted"


def test_ok_as_the_last_answer_uses_menders_own_closing_question(session: Session) -> None:
    make_couple(session)
    _apologise(session, ANA)
    for step in ("ownership", "impact", "change"):
        _say(session, ANA, ANSWERS[step])
    review = _say(session, ANA, "ok")
    assert "What's one thing you need from me tonight?" in all_text(review)


def test_the_plain_question_button_skips_writing_the_last_step(session: Session) -> None:
    make_couple(session)
    _apologise(session, ANA)
    for step in ("ownership", "impact", "change"):
        _say(session, ANA, ANSWERS[step])
    effects = _press(session, ANA, _repair(session), "plain")
    assert keys(effects) == ["repair.plain_need_chosen", "repair.review"]
    assert "need from me tonight?" in all_text(effects)


def test_started_in_the_group_the_questions_go_privately_with_a_pointer_in_the_group(
    session: Session,
) -> None:
    make_couple(session)
    effects = _apologise(session, in_group(ANA_ID, "Ana"))
    assert _group_keys(effects) == ["repair.started_private"]
    assert [s.body.key for s in sends(effects) if isinstance(s.to, ToPartner)] == [
        "repair.intro_private",
        "repair.ask_ownership",
    ]


def test_without_a_private_chat_the_questions_are_force_replies_in_the_group(
    session: Session,
) -> None:
    make_couple(session, private_open=False)
    ana = in_group(ANA_ID, "Ana")
    started = sends(_apologise(session, ana))
    assert [s.body.key for s in started] == ["repair.intro_group", "repair.ask_in_group"]
    assert "Ben can read along" in all_text(started)
    question = started[1]
    repair = _repair(session)
    assert question.to == ToGroup(repair.couple_id)
    assert question.force_reply and question.tag == f"repair:{repair.id}:ownership"
    assert not repair.private
    nxt = sends(_say(session, ana, ANSWERS["ownership"], tag=question.tag))
    assert nxt[0].force_reply and nxt[0].tag == f"repair:{repair.id}:impact"
    assert _repair(session).ownership == ANSWERS["ownership"]


def test_the_other_partner_replying_to_a_repair_question_changes_nothing(session: Session) -> None:
    make_couple(session, private_open=False)
    _apologise(session, in_group(ANA_ID, "Ana"))
    repair = _repair(session)
    effects = _say(session, in_group(BEN_ID, "Ben"), "hi", tag=f"repair:{repair.id}:ownership")
    assert effects == []
    assert _repair(session).ownership is None


def test_a_reply_to_an_earlier_question_asks_the_current_one_again(session: Session) -> None:
    make_couple(session, private_open=False)
    ana = in_group(ANA_ID, "Ana")
    _apologise(session, ana)
    repair = _repair(session)
    _say(session, ana, ANSWERS["ownership"], tag=f"repair:{repair.id}:ownership")
    again = _say(session, ana, "something else", tag=f"repair:{repair.id}:ownership")
    assert keys(again) == ["repair.answer_latest", "repair.ask_in_group"]
    assert _repair(session).ownership == ANSWERS["ownership"]


def test_an_answer_over_the_limit_is_refused_kindly_and_kept_out(session: Session) -> None:
    make_couple(session)
    _apologise(session, ANA)
    effects = _say(session, ANA, "x" * (MAX_ANSWER + 1))
    assert keys(effects) == ["common.too_long"]
    assert _repair(session).ownership is None and _repair(session).step == "ownership"


def test_private_text_without_a_repair_in_progress_is_not_taken(session: Session) -> None:
    make_couple(session)
    assert keys(_say(session, ANA, "hello")) == ["common.private_only_me"]


# ---- the ownership hint (its rule: test_hint.py) ----------------------------------------


def test_an_explaining_first_answer_gets_one_gentle_hint_and_is_kept(session: Session) -> None:
    make_couple(session)
    _apologise(session, ANA)
    effects = _say(session, ANA, "Sorry, but I was exhausted.")
    assert keys(effects) == ["repair.hint_private"]
    hint = sends(effects)[0]
    repair = _repair(session)
    assert button_data(hint) == [
        buttons.data("rp", repair.id or 0, "keep"),
        buttons.data("rp", repair.id or 0, "cancel"),
    ]
    # Never a refusal: what they wrote is stored, and they may keep it.
    assert repair.ownership == "Sorry, but I was exhausted." and repair.state == "writing"


def test_a_rewrite_after_the_hint_replaces_the_answer_and_moves_on(session: Session) -> None:
    make_couple(session)
    _apologise(session, ANA)
    _say(session, ANA, "I didn't mean it that way.")
    effects = _say(session, ANA, "I dismissed what you said in front of my friends.")
    assert keys(effects) == ["repair.ask_impact"]
    assert _repair(session).ownership == "I dismissed what you said in front of my friends."


def test_the_hint_is_given_only_once(session: Session) -> None:
    make_couple(session)
    _apologise(session, ANA)
    _say(session, ANA, "I didn't mean it that way.")
    effects = _say(session, ANA, "You know I get like this when I'm tired.")
    assert keys(effects) == ["repair.ask_impact"]
    assert _repair(session).ownership == "You know I get like this when I'm tired."


def test_keep_it_as_it_is_moves_on_with_the_first_answer(session: Session) -> None:
    make_couple(session)
    _apologise(session, ANA)
    _say(session, ANA, "Sorry, but I was exhausted.")
    effects = _press(session, ANA, _repair(session), "keep")
    assert keys(effects) == ["repair.kept", "repair.ask_impact"]
    assert _repair(session).ownership == "Sorry, but I was exhausted."
    assert keys(_press(session, ANA, _repair(session), "keep")) == ["common.button_expired"]


def test_in_the_group_the_hint_asks_for_a_reply_and_the_reply_counts(session: Session) -> None:
    make_couple(session, private_open=False)
    ana = in_group(ANA_ID, "Ana")
    _apologise(session, ana)
    repair = _repair(session)
    hint = sends(_say(session, ana, "I didn't mean to.", tag=f"repair:{repair.id}:ownership"))
    assert [s.body.key for s in hint] == ["repair.hint_group"]
    assert hint[0].tag == f"repair:{repair.id}:ownership" and hint[0].to == ToGroup(
        repair.couple_id
    )
    _say(session, ana, "I walked out while you were talking.", tag=hint[0].tag)
    assert _repair(session).ownership == "I walked out while you were talking."
    assert _repair(session).step == "impact"


# ---- review, edit, post, promise ------------------------------------------------------------


def test_editing_one_part_goes_back_to_the_review(session: Session) -> None:
    make_couple(session)
    repair = _to_review(session)
    choose = _press(session, ANA, repair, "edit")
    assert keys(choose) == ["repair.edit_which"]
    assert buttons.data("rp", repair.id or 0, "e_impact") in button_data(edits(choose)[0])
    asked = _press(session, ANA, repair, "e_impact")
    assert keys(asked) == ["repair.editing", "repair.ask_impact"]
    review = _say(session, ANA, "You felt alone with the worry.")
    assert keys(review) == ["repair.review"]
    repair = _repair(session)
    assert repair.impact == "You felt alone with the worry." and repair.state == "review"
    assert repair.change == ANSWERS["change"]


def test_back_from_the_edit_choice_shows_the_review_again(session: Session) -> None:
    make_couple(session)
    repair = _to_review(session)
    _press(session, ANA, repair, "edit")
    back = _press(session, ANA, repair, "back")
    assert [e.body.key for e in edits(back) if e.body] == ["repair.review"]


def test_only_the_author_can_press_the_repair_buttons(session: Session) -> None:
    make_couple(session)
    repair = _to_review(session)
    for ben in (in_private(BEN_ID, "Ben"), in_group(BEN_ID, "Ben")):
        assert keys(_press(session, ben, repair, "post")) == ["common.button_expired"]
    assert _repair(session).state == "review"


def test_posting_twice_posts_once(session: Session) -> None:
    make_couple(session)
    repair = _to_review(session)
    _press(session, ANA, repair, "post")
    again = _press(session, ANA, repair, "post")
    assert keys(again) == ["common.button_expired"]
    assert sends(again) == []


def test_next_time_can_become_a_promise_with_one_tap(session: Session, offered: list[str]) -> None:
    make_couple(session)
    repair = _to_review(session)
    review = _review_buttons(session, repair)
    assert buttons.data("rp", repair.id or 0, "promise") in review
    effects = _press(session, ANA, repair, "promise")
    assert offered == [ANSWERS["change"]]
    assert keys(effects) == ["common.button_expired"]  # what the stand-in feature sent
    remaining = next(e for e in effects if isinstance(e, EditOrigin))
    assert buttons.data("rp", repair.id or 0, "promise") not in button_data(remaining)
    assert keys(_press(session, ANA, repair, "promise")) == ["common.button_expired"]
    assert offered == [ANSWERS["change"]]


def test_after_posting_the_promise_is_still_one_tap_away(
    session: Session, offered: list[str]
) -> None:
    make_couple(session)
    repair = _to_review(session)
    posted = _press(session, ANA, repair, "post")
    edit = edits(posted)[0]
    assert edit.body is not None and edit.body.key == "repair.posted_author_promise"
    assert button_data(edit) == [buttons.data("rp", repair.id or 0, "promise")]
    _press(session, ANA, repair, "promise")
    assert offered == [ANSWERS["change"]]


def test_without_the_promises_feature_no_promise_button_is_shown(
    session: Session, no_promises: None
) -> None:
    make_couple(session)
    repair = _to_review(session)
    assert buttons.data("rp", repair.id or 0, "promise") not in _review_buttons(session, repair)
    posted = _press(session, ANA, repair, "post")
    assert button_data(edits(posted)[0]) == []
    assert keys(_press(session, ANA, repair, "promise")) == ["common.button_expired"]


def _review_buttons(session: Session, repair: Repair) -> list[str]:
    again = _press(session, ANA, repair, "continue")
    return button_data(sends(again)[0])


# ---- cancel and resume ------------------------------------------------------------------------


@pytest.mark.parametrize("answered", [0, 1, 2, 3, 4])
def test_cancel_at_any_step_posts_nothing_and_deletes_the_draft(
    session: Session, answered: int
) -> None:
    make_couple(session)
    effects = list(_apologise(session, ANA))
    for step in ("ownership", "impact", "change", "need")[:answered]:
        effects += _say(session, ANA, ANSWERS.get(step, "ok"))
    cancelled = _press(session, ANA, _repair(session), "cancel")
    assert keys(cancelled) == ["repair.cancelled"]
    repair = _repair(session)
    assert repair.state == "cancelled"
    assert (repair.ownership, repair.impact, repair.change, repair.need) == (None,) * 4
    assert _group_keys(effects + cancelled) == []
    assert keys(_press(session, ANA, repair, "post")) == ["common.button_expired"]


def test_stop_as_a_reply_in_the_group_cancels(session: Session) -> None:
    make_couple(session, private_open=False)
    ana = in_group(ANA_ID, "Ana")
    _apologise(session, ana)
    repair = _repair(session)
    effects = _say(session, ana, "stop", tag=f"repair:{repair.id}:ownership")
    assert keys(effects) == ["repair.cancelled"]
    assert _repair(session).state == "cancelled"


def test_a_german_speaker_stops_with_their_own_word(session: Session) -> None:
    _couple, ana_partner, _ben = make_couple(session, private_open=False)
    ana_partner.language = "de"
    ana = in_group(ANA_ID, "Ana")
    _apologise(session, ana)
    repair = _repair(session)
    effects = _say(session, ana, "Stopp", tag=f"repair:{repair.id}:ownership")
    assert keys(effects) == ["repair.cancelled"]
    assert _repair(session).state == "cancelled"


def test_repair_cancel_as_a_command_cancels(session: Session) -> None:
    make_couple(session, private_open=False)
    _apologise(session, in_group(ANA_ID, "Ana"))
    effects = start_repair(session, in_group(ANA_ID, "Ana"), "cancel", T0)
    assert keys(effects) == ["repair.cancelled"]
    assert keys(start_repair(session, ANA, "cancel", T0)) == ["repair.nothing_to_cancel"]


def test_a_half_finished_repair_survives_a_restart(engine: Engine) -> None:
    with Session(engine) as first:
        make_couple(first)
        _apologise(first, ANA)
        _say(first, ANA, ANSWERS["ownership"])
        first.commit()
    # A new process: nothing in memory, only the database.
    with Session(engine) as second:
        effects = _say(second, ANA, ANSWERS["impact"])
        assert keys(effects) == ["repair.ask_change"]
        second.commit()
    with Session(engine) as third:
        repair = third.exec(select(Repair)).one()
        assert (repair.ownership, repair.impact, repair.step) == (
            ANSWERS["ownership"],
            ANSWERS["impact"],
            "change",
        )


def test_repair_again_while_one_is_in_progress_offers_to_continue(session: Session) -> None:
    make_couple(session)
    _apologise(session, ANA)
    _say(session, ANA, ANSWERS["ownership"])
    again = start_repair(session, ANA, "", T0 + timedelta(hours=3))
    assert keys(again) == ["repair.in_progress"]
    assert "step 2 of 4" in all_text(again)
    repair = _repair(session)
    assert button_data(sends(again)[0]) == [
        buttons.data("rp", repair.id or 0, action) for action in ("continue", "over", "cancel")
    ]
    resumed = _press(session, ANA, repair, "continue")
    assert keys(resumed) == ["repair.continuing", "repair.ask_impact"]
    assert len(session.exec(select(Repair)).all()) == 1


def test_start_over_drops_the_draft_and_asks_again_where_to_start(session: Session) -> None:
    make_couple(session)
    _apologise(session, ANA)
    _say(session, ANA, ANSWERS["ownership"])
    old = _repair(session)
    effects = _press(session, ANA, old, "over")
    assert keys(effects) == ["repair.starting_over", "repair.choose"]
    rows = session.exec(select(Repair).order_by(Repair.id)).all()  # type: ignore[arg-type]
    assert [r.state for r in rows] == ["cancelled"]
    assert rows[0].ownership is None


def test_leaving_drops_an_unposted_draft(session: Session) -> None:
    _couple, ana, _ben = make_couple(session)
    _apologise(session, ANA)
    _say(session, ANA, ANSWERS["ownership"])
    buttons.handle_press(session, ANA, buttons.data(onboarding.LEAVE, ana.id or 0, "yes"), T0)
    repair = _repair(session)
    assert repair.state == "cancelled" and repair.ownership is None


def test_when_the_other_partner_leaves_the_draft_is_put_away_and_its_author_told(
    session: Session,
) -> None:
    _couple, ana, ben = make_couple(session)
    _apologise(session, ANA)
    _say(session, ANA, ANSWERS["ownership"])
    effects = buttons.handle_press(
        session, in_private(BEN_ID, "Ben"), buttons.data(onboarding.LEAVE, ben.id or 0, "yes"), T0
    )
    repair = _repair(session)
    assert repair.state == "cancelled" and repair.ownership is None
    told = [e for e in sends(effects) if e.body.key == "repair.partner_left"]
    assert [(t.to, t.body.values["other"]) for t in told] == [(ToPartner(ana.id or 0), "Ben")]


def test_repair_needs_a_formed_couple(session: Session) -> None:
    assert keys(_apologise(session, ANA)) == ["common.no_couple_private"]


def test_with_the_real_promises_feature_the_tap_asks_when(session: Session) -> None:
    from flows.promises import Promise

    assert hooks.promises_available()
    make_couple(session)
    repair = _to_review(session)
    effects = _press(session, ANA, repair, "promise")
    assert "promises.ask_when" in keys(effects)
    draft = session.exec(select(Promise)).one()
    assert draft.what == ANSWERS["change"].rstrip(".")
