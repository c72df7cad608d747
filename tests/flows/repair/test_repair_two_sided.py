"""/repair from both sides: the choice, the hurt partner's note, prose, "I'm sorry", answers."""

from __future__ import annotations

from sqlmodel import Session, select

from bot.texts import render
from flows import buttons, inputs, pause
from flows.couples import Actor
from flows.hurt import HurtNote
from flows.models import Partner
from flows.outcome import Effect, Send, SetTimer, ToChat, ToGroup, ToPartner
from flows.repair import Repair, says_sorry, start_repair
from tests.helpers import (
    ANA_ID,
    BEN_ID,
    GROUP_ID,
    STRANGER_ID,
    T0,
    all_text,
    button_data,
    edits,
    in_group,
    in_private,
    keys,
    make_couple,
    notices,
    sends,
    shown,
)

ANA = in_private(ANA_ID, "Ana")
BEN = in_private(BEN_ID, "Ben")
HAPPENED = "You laughed when I told your parents about my new job."
MEANT = "It made me feel that my plans are a joke to you."
OWNERSHIP = "I laughed at your news in front of my parents."
IMPACT = "You felt small, right when you wanted me on your side."
CHANGE = "Next time I'll ask you first how you want to share big news."


def _say(session: Session, actor: Actor, words: str, tag: str | None = None) -> list[Effect]:
    return list(inputs.handle_text(session, actor, inputs.Said(words, tag), T0))


def _press(session: Session, actor: Actor, kind: str, target: int, action: str) -> list[Effect]:
    return list(buttons.handle_press(session, actor, buttons.data(kind, target, action), T0))


def _partner(session: Session, user_id: int) -> Partner:
    return session.exec(select(Partner).where(Partner.user_id == user_id)).one()


def _latest_tag(effects: list[Effect]) -> str | None:
    tagged = [s.tag for s in sends(effects) if s.tag]
    return tagged[-1] if tagged else None


def _choose(session: Session, actor: Actor, side: str) -> list[Effect]:
    start_repair(session, actor, "", T0)
    return _press(session, actor, "rpc", _partner(session, actor.user_id).id or 0, side)


def _write_note(session: Session, actor: Actor = BEN) -> HurtNote:
    effects = _choose(session, actor, "hurt")
    effects = _say(session, actor, HAPPENED, _latest_tag(effects))
    _say(session, actor, MEANT, _latest_tag(effects))
    note = session.exec(select(HurtNote)).one()
    assert note.state == "review"
    return note


def _apology_to_review(session: Session, actor: Actor = ANA) -> tuple[Repair, list[Effect]]:
    effects = _choose(session, actor, "apology")
    seen = list(effects)
    for words in (OWNERSHIP, IMPACT, CHANGE, "ok"):
        effects = _say(session, actor, words, _latest_tag(effects))
        seen += effects
    repair = session.exec(select(Repair).where(Repair.state == "review")).one()
    return repair, seen


def _posted(session: Session) -> tuple[Repair, Send]:
    repair, _ = _apology_to_review(session)
    posted = _press(session, ANA, "rp", repair.id or 0, "post")
    [group] = [s for s in sends(posted) if isinstance(s.to, ToGroup)]
    return repair, group


# ---- where to start -----------------------------------------------------------------------


def test_repair_asks_privately_whether_to_apologise_or_say_what_hurt(session: Session) -> None:
    _couple, ana, _ben = make_couple(session)
    effects = start_repair(session, in_group(ANA_ID, "Ana"), "", T0)
    group = [s for s in sends(effects) if s.to == ToChat(GROUP_ID)]
    assert [s.body.key for s in group] == ["repair.started_private"]
    assert "private chat" in shown(group[0].body)
    [choice] = [s for s in sends(effects) if isinstance(s.to, ToPartner)]
    assert choice.to == ToPartner(ana.id or 0) and choice.body.key == "repair.choose"
    assert button_data(choice) == [
        buttons.data("rpc", ana.id or 0, "apology"),
        buttons.data("rpc", ana.id or 0, "hurt"),
    ]
    assert session.exec(select(Repair)).first() is None  # nothing started before the choice


def test_only_the_one_who_asked_can_choose_a_side(session: Session) -> None:
    _couple, ana, _ben = make_couple(session)
    start_repair(session, ANA, "", T0)
    for someone in (BEN, in_group(BEN_ID, "Ben")):
        assert keys(_press(session, someone, "rpc", ana.id or 0, "apology")) == [
            "common.button_expired"
        ]
    # Someone outside the couple hears whose button it is (the first-week rule).
    assert keys(_press(session, in_group(STRANGER_ID), "rpc", ana.id or 0, "apology")) == [
        "common.button_for_couple"
    ]
    assert session.exec(select(Repair)).first() is None


def test_saying_what_hurt_needs_the_private_chat_and_says_where_to_open_it(
    session: Session,
) -> None:
    make_couple(session, private_open=False)
    effects = _choose(session, in_group(BEN_ID, "Ben"), "hurt")
    assert keys(effects) == ["repair.hurt_needs_private"]
    assert edits(effects)[0].buttons[0][0].url is not None
    assert session.exec(select(HurtNote)).first() is None


# ---- the hurt partner's note -----------------------------------------------------------------


def test_the_note_asks_what_happened_then_what_it_meant_then_whether_to_share(
    session: Session,
) -> None:
    _couple, _ana, ben = make_couple(session)
    effects = _choose(session, BEN, "hurt")
    assert keys(effects) == ["repair.chose_hurt", "repair.hurt_intro", "repair.hurt_ask_happened"]
    assert all(s.to == ToPartner(ben.id or 0) for s in sends(effects))
    effects = _say(session, BEN, HAPPENED, _latest_tag(effects))
    assert keys(effects) == ["repair.hurt_ask_meant"]
    assert "believe about the two of you" in all_text(effects)
    review = _say(session, BEN, MEANT, _latest_tag(effects))
    assert keys(review) == ["repair.hurt_review"]
    assert HAPPENED in all_text(review) and MEANT in all_text(review)
    note = session.exec(select(HurtNote)).one()
    assert button_data(sends(review)[0]) == [
        buttons.data("hn", note.id or 0, action) for action in ("share", "keep", "cancel")
    ]


def test_a_shared_note_is_announced_to_the_other_without_its_words(session: Session) -> None:
    _couple, ana, _ben = make_couple(session)
    note = _write_note(session)
    effects = _press(session, BEN, "hn", note.id or 0, "share")
    assert note.state == "shared"
    [told] = sends(effects)
    assert told.to == ToPartner(ana.id or 0) and told.body.key == "repair.hurt_told_other"
    assert HAPPENED not in all_text(effects) and MEANT not in all_text(effects)


def test_a_shared_note_is_shown_at_the_impact_step_and_never_quoted_in_the_message(
    session: Session,
) -> None:
    make_couple(session)
    note = _write_note(session)
    _press(session, BEN, "hn", note.id or 0, "share")
    start = start_repair(session, ANA, "", T0)
    assert keys(start) == ["repair.choose_with_note"]
    effects = _press(session, ANA, "rpc", _partner(session, ANA_ID).id or 0, "apology")
    assert HAPPENED not in all_text(effects)  # not at step 1: ownership comes first
    impact = _say(session, ANA, OWNERSHIP, _latest_tag(effects))
    assert keys(impact) == ["repair.ask_impact_with_note"]
    assert HAPPENED in all_text(impact) and MEANT in all_text(impact)
    assert "Step 2 of 4" in all_text(impact)
    effects = impact
    for words in (IMPACT, CHANGE, "ok"):
        effects = _say(session, ANA, words, _latest_tag(effects))
    repair = session.exec(select(Repair)).one()
    posted = _press(session, ANA, "rp", repair.id or 0, "post")
    group = all_text([s for s in sends(posted) if isinstance(s.to, ToGroup)])
    assert OWNERSHIP in group and HAPPENED not in group and MEANT not in group
    # Answered: the next repair is written without it.
    assert note.state == "answered"
    again = _choose(session, ANA, "apology")
    second = _say(session, ANA, OWNERSHIP, _latest_tag(again))
    assert keys(second) == ["repair.ask_impact"]


def test_a_note_kept_to_oneself_is_never_shown_to_the_other(session: Session) -> None:
    make_couple(session)
    note = _write_note(session)
    effects = _press(session, BEN, "hn", note.id or 0, "keep")
    assert keys(effects) == ["repair.hurt_kept"] and sends(effects) == []
    assert keys(start_repair(session, ANA, "", T0)) == ["repair.choose"]
    chosen = _press(session, ANA, "rpc", _partner(session, ANA_ID).id or 0, "apology")
    impact = _say(session, ANA, OWNERSHIP, _latest_tag(chosen))
    assert keys(impact) == ["repair.ask_impact"] and HAPPENED not in all_text(impact)


def test_a_note_is_never_shown_in_the_group_even_when_the_apology_is_written_there(
    session: Session,
) -> None:
    _couple, ana, _ben = make_couple(session)
    ana.private_open = False
    session.add(ana)
    note = _write_note(session)
    _press(session, BEN, "hn", note.id or 0, "share")
    chosen = _choose(session, in_group(ANA_ID, "Ana"), "apology")
    impact = _say(session, in_group(ANA_ID, "Ana"), OWNERSHIP, _latest_tag(chosen))
    assert keys(impact) == ["repair.ask_in_group"]
    assert HAPPENED not in all_text(impact) and MEANT not in all_text(impact)
    assert "open my chat" in all_text(impact)


def test_only_the_author_presses_the_note_buttons_and_stop_deletes_it(session: Session) -> None:
    make_couple(session)
    note = _write_note(session)
    assert keys(_press(session, ANA, "hn", note.id or 0, "share")) == ["common.button_expired"]
    assert note.state == "review"
    assert keys(_press(session, BEN, "hn", note.id or 0, "cancel")) == ["repair.hurt_cancelled"]
    assert (note.state, note.happened, note.meant) == ("cancelled", None, None)
    assert keys(_press(session, BEN, "hn", note.id or 0, "share")) == ["common.button_expired"]


def test_repair_again_while_a_note_is_open_picks_it_up(session: Session) -> None:
    make_couple(session)
    effects = _choose(session, BEN, "hurt")
    _say(session, BEN, HAPPENED, _latest_tag(effects))
    again = start_repair(session, BEN, "", T0)
    assert keys(again) == ["repair.hurt_continuing", "repair.hurt_ask_meant"]
    assert keys(start_repair(session, BEN, "cancel", T0)) == ["repair.cancelled"]
    assert session.exec(select(HurtNote)).one().state == "cancelled"


# ---- the message reads like a person wrote it ---------------------------------------------------


def test_the_message_is_prose_in_the_authors_voice_with_no_labels(session: Session) -> None:
    make_couple(session)
    repair, _ = _apology_to_review(session)
    from flows.repair import composed

    message = render(composed(session, repair, _partner(session, ANA_ID)))
    assert message == (
        f"Ben,\n\nI'm sorry. {OWNERSHIP}\n\n{IMPACT}\n\n{CHANGE}\n\n"
        "What's one thing you need from me tonight?\n\n— Ana"
    )
    for label in ("My part", "How I think", "What I'll do differently", ":\n"):
        assert label not in message


def test_im_sorry_can_be_removed_and_added_back_before_posting(session: Session) -> None:
    make_couple(session)
    repair, _ = _apology_to_review(session)
    removed = _press(session, ANA, "rp", repair.id or 0, "sorry")
    assert keys(removed)[0] == "repair.sorry_removed_notice" and not repair.with_sorry
    review = render(edits(removed)[0].body)  # type: ignore[arg-type]
    assert f"Ben,\n\n{OWNERSHIP}" in review and "I'm sorry" not in review
    assert buttons.data("rp", repair.id or 0, "sorry") in button_data(edits(removed)[0])
    added = _press(session, ANA, "rp", repair.id or 0, "sorry")
    assert keys(added)[0] == "repair.sorry_kept_notice" and repair.with_sorry
    _press(session, ANA, "rp", repair.id or 0, "sorry")
    posted = _press(session, ANA, "rp", repair.id or 0, "post")
    assert "sorry" not in all_text([s for s in sends(posted) if isinstance(s.to, ToGroup)])


def test_an_author_who_wrote_their_own_sorry_gets_no_second_one(session: Session) -> None:
    assert says_sorry("I'm so sorry I shouted.") and says_sorry("I apologise for tonight")
    assert not says_sorry("I shouted at you.")
    make_couple(session)
    effects = _choose(session, ANA, "apology")
    for words in ("I'm sorry I shouted at you.", IMPACT, CHANGE, "ok"):
        effects = _say(session, ANA, words, _latest_tag(effects))
    assert all_text(effects).count("sorry") == 1
    repair = session.exec(select(Repair)).one()
    assert not repair.with_sorry


def test_step_four_is_one_question_with_a_button_for_menders_words(session: Session) -> None:
    make_couple(session)
    effects = _choose(session, ANA, "apology")
    for words in (OWNERSHIP, IMPACT, CHANGE):
        effects = _say(session, ANA, words, _latest_tag(effects))
    [asked] = sends(effects)
    text = shown(asked.body)
    assert text.count("?") == 1  # one question: the one offered for the message
    assert 'send "ok"' not in text
    repair = session.exec(select(Repair)).one()
    assert button_data(asked)[0] == buttons.data("rp", repair.id or 0, "plain")


# ---- answering a posted repair ------------------------------------------------------------------


def test_a_posted_repair_offers_the_receiver_three_answers(session: Session) -> None:
    make_couple(session)
    repair, group = _posted(session)
    assert button_data(group) == [
        buttons.data("rpa", repair.id or 0, answer) for answer in ("thanks", "time", "talk")
    ]
    labels = [shown(b.label) for row in group.buttons for b in row]
    assert labels == ["Thank you", "I need some time", "Can we talk tonight?"]
    assert "Ben, if and when you want to, you can answer with a tap" in shown(group.body)


def test_thank_you_is_told_to_the_author_privately_and_only_once(session: Session) -> None:
    _couple, ana, _ben = make_couple(session)
    repair, _group = _posted(session)
    effects = _press(session, in_group(BEN_ID, "Ben"), "rpa", repair.id or 0, "thanks")
    [told] = sends(effects)
    assert told.to == ToPartner(ana.id or 0) and told.body.key == "repair.answered_thanks"
    assert "Ben read your message and said thank you" in shown(told.body)
    assert notices(effects)[0].body.key == "repair.answer_sent_notice"
    assert edits(effects)[0].buttons == ()
    assert (repair.answer, repair.answered_at) == ("thanks", T0)
    again = _press(session, in_group(BEN_ID, "Ben"), "rpa", repair.id or 0, "talk")
    assert "common.button_expired" in keys(again) and sends(again) == []
    assert repair.answer == "thanks"


def test_the_author_cannot_answer_their_own_repair(session: Session) -> None:
    make_couple(session)
    repair, _group = _posted(session)
    effects = _press(session, in_group(ANA_ID, "Ana"), "rpa", repair.id or 0, "thanks")
    assert keys(effects) == ["repair.answer_is_for_other"] and repair.answer is None
    stranger = _press(session, in_group(STRANGER_ID), "rpa", repair.id or 0, "thanks")
    assert keys(stranger) == ["common.button_for_couple"]


def test_can_we_talk_tonight_is_told_gently_to_the_author(session: Session) -> None:
    _couple, ana, _ben = make_couple(session)
    repair, _group = _posted(session)
    effects = _press(session, in_group(BEN_ID, "Ben"), "rpa", repair.id or 0, "talk")
    [told] = sends(effects)
    assert told.to == ToPartner(ana.id or 0) and "can we talk tonight?" in shown(told.body)


def test_i_need_some_time_offers_the_receiver_a_pause_with_a_return_time(session: Session) -> None:
    couple, ana, ben = make_couple(session)
    repair, _group = _posted(session)
    effects = _press(session, in_group(BEN_ID, "Ben"), "rpa", repair.id or 0, "time")
    by_target = {s.to: s for s in sends(effects)}
    assert by_target[ToPartner(ana.id or 0)].body.key == "repair.answered_time"
    assert "isn't a no" in shown(by_target[ToPartner(ana.id or 0)].body)
    offer = by_target[ToPartner(ben.id or 0)]
    assert offer.body.key == "repair.time_offer_pause"
    assert button_data(offer) == [
        buttons.data(pause.START, couple.id or 0, str(m)) for m in pause.CHOICES_MINUTES
    ]
    # Tapped in the private chat: the usual break, announced in the group for Ana to agree.
    started = _press(session, BEN, pause.START, couple.id or 0, "60")
    assert [s.body.key for s in sends(started) if isinstance(s.to, ToGroup)] == ["pause.started"]
    row = pause.active_pause(session, couple.id or 0)
    assert row is not None and row.asked_by == ben.id and row.state == pause.PauseState.WAITING


def test_no_answer_is_ever_chased(session: Session) -> None:
    make_couple(session)
    repair, _ = _apology_to_review(session)
    posted = _press(session, ANA, "rp", repair.id or 0, "post")
    # No reminder to answer, no deadline: nothing is scheduled when a repair is posted.
    assert not any(isinstance(effect, SetTimer) for effect in posted)
