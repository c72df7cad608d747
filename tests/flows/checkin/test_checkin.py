"""Weekly check-in rules: the schedule in the couple's zone, answers kept apart until both
are in, the reminder, the 48-hour close, "not tonight", carry-forward and the streak."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

from bot.delivery.models import Outbox, Timer
from bot.delivery.outbox import persist
from bot.delivery.timers import handle_due
from bot.texts import render
from flows import buttons, checkin, feature, onboarding
from flows.checkin import Checkin, CheckinAnswer, CheckinSchedule
from flows.inputs import Said, handle_text
from flows.models import Couple, Partner
from flows.outcome import Effects, Send, SetTimer, Text, ToGroup, ToPartner
from flows.timeparse import parse_weekly
from tests.helpers import (
    ANA_ID,
    BEN_ID,
    STRANGER_ID,
    T0,
    all_text,
    button_data,
    in_group,
    in_private,
    keys,
    make_couple,
    sends,
    timers,
)

BERLIN = ZoneInfo("Europe/Berlin")
ANA_SAYS = ("the dishes talk", "I was short on Tuesday", "our walk", "phones away at dinner")
BEN_SAYS = ("my mum's visit", "I forgot to call", "cooking together", "ask before plans")


# ---- helpers -----------------------------------------------------------------------


def run(session: Session, effects: Effects, now: datetime) -> Effects:
    """Store timers and messages the way the runtime does."""
    persist(session, effects, now, claim=False)
    session.flush()
    return effects


def pending(session: Session, kind: str) -> list[Timer]:
    query = select(Timer).where(Timer.kind == kind, Timer.state == "pending")
    return list(session.exec(query.order_by(col(Timer.due_at))))


def fire(session: Session, kind: str, now: datetime, *, partner: Partner | None = None) -> Effects:
    """Handle the earliest pending timer of `kind` (for `partner`, when given) at `now`."""
    rows = pending(session, kind)
    if partner is not None:
        rows = [row for row in rows if f'"partner_id": {partner.id}' in row.payload]
    assert rows, f"no pending {kind} timer"
    effects, state, _late = handle_due(session, rows[0], now)
    rows[0].state = state
    session.add(rows[0])
    return run(session, effects, now)


def start_now(session: Session, now: datetime = T0) -> Effects:
    return run(session, checkin.checkin(session, in_group(ANA_ID, "Ana"), "now", now), now)


def question_to(effects: Effects, partner: Partner) -> Send:
    found = [
        s
        for s in sends(effects)
        if s.to == ToPartner(partner.id or 0) and s.tag is not None and s.tag.startswith("checkin:")
    ]
    assert found, f"no question to {partner.first_name}: {keys(effects)}"
    return found[-1]


def answer_privately(session: Session, user_id: int, said: str, now: datetime = T0) -> Effects:
    return run(session, handle_text(session, in_private(user_id), Said(said), now), now)


def reply_in_group(
    session: Session, user_id: int, said: str, tag: str | None, now: datetime = T0
) -> Effects:
    return run(session, handle_text(session, in_group(user_id), Said(said, tag), now), now)


def ana_answers_all(session: Session, now: datetime = T0) -> Effects:
    effects: Effects = []
    for said in ANA_SAYS:
        effects = answer_privately(session, ANA_ID, said, now)
    return effects


def ben_replies_all(
    session: Session, first: Send, now: datetime = T0, says: tuple[str, ...] = BEN_SAYS
) -> Effects:
    ben = session.exec(select(Partner).where(Partner.user_id == BEN_ID)).one()
    question, effects = first, []
    for said in says:
        effects = reply_in_group(session, BEN_ID, said, question.tag, now)
        if said is not says[-1]:
            question = question_to(effects, ben)
    return effects


def press(
    session: Session, user_id: int, data: str, now: datetime = T0, *, private: bool = False
) -> Effects:
    actor = in_private(user_id) if private else in_group(user_id)
    return run(session, buttons.handle_press(session, actor, data, now), now)


def the_checkin(session: Session) -> Checkin:
    return session.exec(select(Checkin).order_by(col(Checkin.id).desc())).first()  # type: ignore[return-value]


def group_texts(session: Session, couple: Couple) -> str:
    rows = session.exec(select(Outbox).where(Outbox.chat_id == couple.group_chat_id))
    return "\n".join(row.body for row in rows)


def chat_texts(session: Session, chat_id: int) -> str:
    return "\n".join(
        row.body for row in session.exec(select(Outbox).where(Outbox.chat_id == chat_id))
    )


@pytest.fixture
def couple_split(session: Session) -> tuple[Couple, Partner, Partner]:
    """Ana opened the private chat; Ben did not (he answers in the group)."""
    couple, ana, ben = make_couple(session)
    ben.private_open = False
    session.add(ben)
    session.flush()
    return couple, ana, ben


@pytest.fixture
def no_promises() -> Iterator[None]:
    with feature.replaced(promise_offer=None):
        yield


@pytest.fixture
def fake_promises() -> Iterator[list[tuple[int, str]]]:
    offered: list[tuple[int, str]] = []

    def offer(session: Session, partner: Partner, what: str, now: datetime) -> Effects:
        offered.append((partner.id or 0, what))
        return [Send(ToPartner(partner.id or 0), Text("common.button_expired"))]

    with feature.replaced(promise_offer=offer):
        yield offered


# ---- the schedule ------------------------------------------------------------------


def test_a_new_couple_gets_sunday_1900_in_its_own_zone(session: Session) -> None:
    effects = onboarding.start(session, in_group(ANA_ID, "Ana"), "", "Europe/Berlin", T0)
    couple = session.exec(select(Couple)).one()
    for user_id, name in ((ANA_ID, "Ana"), (BEN_ID, "Ben")):
        effects = buttons.handle_press(
            session,
            in_group(user_id, name),
            buttons.data(onboarding.JOIN, couple.id or 0, "in"),
            T0,
        )
    # Nothing is planned until one of them confirms the zone (see tests/flows/test_first_week.py).
    assert not [t for t in timers(effects) if t.kind == checkin.START]
    effects = buttons.handle_press(
        session, in_group(BEN_ID, "Ben"), buttons.data(onboarding.ZONE, couple.id or 0, "ok"), T0
    )
    (start,) = [t for t in timers(effects) if t.kind == checkin.START]
    # Wed 25 Nov 2026 -> Sun 29 Nov, 19:00 in Berlin (CET, UTC+1).
    assert start.due_at == datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
    schedule = session.exec(select(CheckinSchedule)).one()
    assert (schedule.weekday, schedule.at, schedule.active) == (6, "19:00", True)


def test_the_weekly_start_keeps_local_time_across_the_spring_dst_change(session: Session) -> None:
    before = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
    couple, _ana, _ben = make_couple(session, zone="Europe/Berlin", now=before)
    run(session, checkin.ensure_schedule(session, couple, before)[1], before)
    (first,) = pending(session, checkin.START)
    assert first.due_at == datetime(2026, 3, 22, 18, 0, tzinfo=UTC)  # 19:00 CET
    effects = fire(session, checkin.START, first.due_at)
    assert "checkin.opening" in keys(effects)
    (following,) = pending(session, checkin.START)
    assert following.due_at == datetime(2026, 3, 29, 17, 0, tzinfo=UTC)  # 19:00 CEST
    assert following.due_at.astimezone(BERLIN).strftime("%a %H:%M") == "Sun 19:00"


def test_checkin_with_a_day_and_time_moves_the_schedule_in_the_couples_zone(
    session: Session,
) -> None:
    _couple, _ana, _ben = make_couple(session, zone="America/New_York")
    effects = run(session, checkin.checkin(session, in_group(BEN_ID, "Ben"), "wed 20:30", T0), T0)
    # T0 is Wed 13:00 in New York: tonight 20:30 EST is 01:30 UTC on Thursday.
    (start,) = pending(session, checkin.START)
    assert start.due_at == datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
    moved = all_text(effects)
    assert "Ben moved the weekly check-in to Wednesdays at 20:30" in moved
    assert "Wed 25 Nov, 20:30" in moved


def test_unparseable_times_get_working_examples_and_change_nothing(session: Session) -> None:
    make_couple(session)
    for nonsense in ["banana", "sun 25:00", "13pm mon", "someday soon", "x" * 300, "sun"]:
        effects = checkin.checkin(session, in_group(ANA_ID), nonsense, T0)
        assert "checkin.not_understood" in keys(effects)
        shown = all_text(effects)
        for example in ("/checkin Sun 19:00", "/checkin sunday 7pm", "/checkin wed 20:30"):
            assert example in shown
            assert parse_weekly(example.removeprefix("/checkin ")) is not None
    schedule = session.exec(select(CheckinSchedule)).one()
    assert (schedule.weekday, schedule.at) == (6, "19:00")


def test_checkin_shows_the_schedule_and_next_date_for_each_zone_in_the_group(
    session: Session,
) -> None:
    _couple, _ana, ben = make_couple(session, zone="Europe/Berlin")
    shown = all_text(checkin.checkin(session, in_group(ANA_ID), "", T0))
    assert "Sundays at 19:00" in shown and "Sun 29 Nov, 19:00 (Berlin)" in shown
    ben.timezone = "Asia/Tokyo"
    session.add(ben)
    shown = all_text(checkin.checkin(session, in_group(ANA_ID), "", T0))
    assert "Sun 29 Nov, 19:00 for Ana (Berlin), Mon 30 Nov, 03:00 for Ben (Tokyo)" in shown
    private = all_text(checkin.checkin(session, in_private(BEN_ID), "", T0))
    assert "Mon 30 Nov, 03:00 (Tokyo)" in private and "Berlin" not in private


def test_off_stops_the_schedule_and_on_brings_it_back(session: Session) -> None:
    make_couple(session)
    run(session, checkin.checkin(session, in_group(ANA_ID), "", T0), T0)
    assert len(pending(session, checkin.START)) == 1
    off = run(session, checkin.checkin(session, in_group(ANA_ID, "Ana"), "off", T0), T0)
    assert pending(session, checkin.START) == []
    assert "checkin.switched_off" in keys(off)
    run(session, checkin.checkin(session, in_group(BEN_ID, "Ben"), "on", T0), T0)
    assert [t.due_at for t in pending(session, checkin.START)] == [
        datetime(2026, 11, 29, 19, 0, tzinfo=UTC)
    ]


def test_changing_the_couples_zone_replans_sunday_1900_in_the_new_zone(session: Session) -> None:
    couple, _ana, _ben = make_couple(session, zone="UTC")
    run(session, checkin.ensure_schedule(session, couple, T0)[1], T0)
    run(session, onboarding.set_timezone(session, in_group(ANA_ID), "Berlin", T0), T0)
    (start,) = pending(session, checkin.START)
    assert start.due_at == datetime(2026, 11, 29, 18, 0, tzinfo=UTC)  # 19:00 CET


def test_a_zone_change_after_planning_moves_the_start_to_the_new_local_time(
    session: Session,
) -> None:
    couple, _ana, _ben = make_couple(session, zone="UTC")
    run(session, checkin.ensure_schedule(session, couple, T0)[1], T0)
    (planned,) = pending(session, checkin.START)
    couple.timezone = "America/New_York"
    session.add(couple)
    effects = fire(session, checkin.START, planned.due_at)
    assert "checkin.opening" not in keys(effects)
    (moved,) = pending(session, checkin.START)
    assert moved.due_at == datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # Sun 19:00 EST


def test_a_start_missed_while_offline_says_so_and_keeps_the_schedule(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    run(session, checkin.ensure_schedule(session, couple, T0)[1], T0)
    (planned,) = pending(session, checkin.START)
    effects = fire(session, checkin.START, planned.due_at + timedelta(hours=20))
    assert keys(effects) == ["checkin.missed_while_offline"]
    assert session.exec(select(Checkin)).first() is None
    (following,) = pending(session, checkin.START)
    assert following.due_at == planned.due_at + timedelta(days=7)


def test_a_checkin_started_recently_stands_in_for_the_scheduled_one(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    run(session, checkin.ensure_schedule(session, couple, T0)[1], T0)
    saturday = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
    start_now(session, saturday)
    ana_answers_all(session, saturday)
    (planned,) = pending(session, checkin.START)
    effects = fire(session, checkin.START, planned.due_at)
    assert "checkin.opening" not in keys(effects)
    assert len(session.exec(select(Checkin)).all()) == 1
    assert [t.due_at for t in pending(session, checkin.START)] == [
        planned.due_at + timedelta(days=7)
    ]


# ---- asking and answering ----------------------------------------------------------


def test_start_opens_in_the_group_and_asks_privately_when_the_chat_is_open(
    session: Session,
) -> None:
    couple, ana, ben = make_couple(session)
    effects = start_now(session)
    opening = sends(effects)[0]
    assert opening.to == ToGroup(couple.id or 0) and opening.body.key == "checkin.opening"
    checkin_id = the_checkin(session).id
    assert button_data(opening) == [
        buttons.data("ci", checkin_id or 0, "snooze"),
        buttons.data("ci", checkin_id or 0, "skip"),
    ]
    for partner in (ana, ben):
        question = question_to(effects, partner)
        assert "Question 1 of 4" in render(question.body)
        assert not question.force_reply
        assert "visible to both" not in render(question.body)
    assert chat_texts(session, ANA_ID).count("Question 1 of 4") == 1
    assert chat_texts(session, BEN_ID).count("Question 1 of 4") == 1


def test_without_a_private_chat_the_question_comes_in_the_group_saying_both_can_see(
    session: Session, couple_split: tuple[Couple, Partner, Partner]
) -> None:
    couple, _ana, ben = couple_split
    effects = start_now(session)
    question = question_to(effects, ben)
    assert question.force_reply
    assert "visible to both of you" in render(question.body)
    rows = session.exec(select(Outbox).where(Outbox.tag == question.tag)).all()
    assert [row.chat_id for row in rows] == [couple.group_chat_id]
    assert rows[0].body.startswith("For Ben:")


def test_private_and_group_answers_stay_hidden_until_both_are_in_then_shown_side_by_side(
    session: Session, couple_split: tuple[Couple, Partner, Partner]
) -> None:
    couple, ana, ben = couple_split
    effects = start_now(session)
    ben_first = question_to(effects, ben)
    done = ana_answers_all(session)
    assert "checkin.thanks_waiting" in keys(done)
    assert not any(said in group_texts(session, couple) for said in ANA_SAYS)
    three = ben_replies_all(session, ben_first, says=BEN_SAYS[:3])
    # Nothing of Ana's has reached the group, and nothing of Ben's reached Ana's chat.
    assert not any(said in group_texts(session, couple) for said in ANA_SAYS)
    assert not any(said in chat_texts(session, ANA_ID) for said in BEN_SAYS)
    assert the_checkin(session).state == checkin.CheckinState.OPEN
    shown = reply_in_group(session, BEN_ID, BEN_SAYS[3], question_to(three, ben).tag)
    (revealed,) = [s for s in sends(shown) if s.body.key == "checkin.reveal"]
    assert revealed.to == ToGroup(couple.id or 0)
    text = render(revealed.body)
    for index, (hers, his) in enumerate(zip(ANA_SAYS, BEN_SAYS, strict=True)):
        block = text.split(f"{index + 1}. ")[1]
        assert f"Ana: {hers}" in block and f"Ben: {his}" in block
    assert the_checkin(session).state == checkin.CheckinState.DONE
    assert pending(session, checkin.REMIND) == [] and pending(session, checkin.CLOSE_KIND) == []
    assert ana.id is not None


def test_either_partner_can_skip_a_question(
    session: Session, couple_split: tuple[Couple, Partner, Partner]
) -> None:
    _couple, ana, ben = couple_split
    effects = start_now(session)
    ben_question = question_to(effects, ben)
    checkin_id = the_checkin(session).id or 0
    answer_privately(session, ANA_ID, ANA_SAYS[0])
    passed = press(session, ANA_ID, buttons.data("ciq", checkin_id, "pass2"), private=True)
    assert "Question 3 of 4" in render(question_to(passed, ana).body)
    answer_privately(session, ANA_ID, ANA_SAYS[2])
    answer_privately(session, ANA_ID, ANA_SAYS[3])
    shown = ben_replies_all(session, ben_question, says=("skip", *BEN_SAYS[1:]))
    text = render(next(s for s in sends(shown) if s.body.key == "checkin.reveal").body)
    assert "Ana: (skipped)" in text.split("2. ")[1].split("3. ")[0]
    assert "Ben: (skipped)" in text.split("1. ")[1].split("2. ")[0]
    stored = session.exec(
        select(CheckinAnswer).where(CheckinAnswer.question == 2, CheckinAnswer.partner_id == ana.id)
    ).one()
    assert stored.answer is None


def test_a_pass_button_for_a_question_already_answered_changes_nothing(session: Session) -> None:
    make_couple(session)
    start_now(session)
    checkin_id = the_checkin(session).id or 0
    answer_privately(session, ANA_ID, ANA_SAYS[0])
    effects = press(session, ANA_ID, buttons.data("ciq", checkin_id, "pass1"), private=True)
    assert keys(effects) == ["common.button_expired"]
    stored = session.exec(select(CheckinAnswer).where(CheckinAnswer.question == 1)).one()
    assert stored.answer == ANA_SAYS[0]


def test_an_answer_can_be_changed_before_the_reveal_but_not_after(
    session: Session, couple_split: tuple[Couple, Partner, Partner]
) -> None:
    _couple, ana, ben = couple_split
    effects = start_now(session)
    ben_first = question_to(effects, ben)
    finished = ana_answers_all(session)
    (waiting,) = [s for s in sends(finished) if s.body.key == "checkin.thanks_waiting"]
    change_two = next(d for d in button_data(waiting) if d.endswith("|edit2"))
    asked = press(session, ANA_ID, change_two, private=True)
    assert "Question 2 of 4" in render(question_to(asked, ana).body)
    changed = answer_privately(session, ANA_ID, "I interrupted you")
    assert "checkin.changed" in keys(changed)
    shown = ben_replies_all(session, ben_first)
    text = render(next(s for s in sends(shown) if s.body.key == "checkin.reveal").body)
    assert "Ana: I interrupted you" in text and ANA_SAYS[1] not in text

    too_late = press(session, ANA_ID, change_two, private=True)
    assert keys(too_late) == ["checkin.too_late_to_edit", "checkin.shared_line"]
    late_reply = reply_in_group(session, BEN_ID, "actually something else", ben_first.tag)
    assert keys(late_reply) == ["checkin.too_late_to_edit"]
    answers = {row.answer for row in session.exec(select(CheckinAnswer))}
    assert "actually something else" not in answers and "I interrupted you" in answers
    # Private text after the reveal is no longer taken as an answer.
    assert keys(answer_privately(session, ANA_ID, "hello?")) == ["common.private_only_me"]


def test_a_group_reply_to_the_same_question_again_before_the_reveal_changes_it(
    session: Session, couple_split: tuple[Couple, Partner, Partner]
) -> None:
    _couple, _ana, ben = couple_split
    ben_first = question_to(start_now(session), ben)
    reply_in_group(session, BEN_ID, "first try", ben_first.tag)
    again = reply_in_group(session, BEN_ID, "better said", ben_first.tag)
    assert "checkin.changed" in keys(again)
    assert "Question 2 of 4" in all_text(again)
    (stored,) = session.exec(select(CheckinAnswer)).all()
    assert stored.answer == "better said"


def test_over_long_answers_are_refused_kindly(session: Session) -> None:
    make_couple(session)
    start_now(session)
    effects = answer_privately(session, ANA_ID, "x" * (checkin.MAX_ANSWER + 1))
    assert keys(effects) == ["common.too_long"]
    assert session.exec(select(CheckinAnswer)).first() is None


def test_private_text_for_another_features_question_is_left_alone(session: Session) -> None:
    make_couple(session)
    start_now(session)
    # The latest question on screen in Ana's private chat is a repair step (the shell
    # passes its tag, bot/delivery/chats.py `latest_question`).
    said = Said("my answer", "repair:1:step")
    assert checkin.answer_text(session, in_private(ANA_ID), said, T0) is None


# ---- reminder, close, not tonight --------------------------------------------------


def test_one_reminder_a_few_hours_later_only_to_who_has_not_finished(
    session: Session, couple_split: tuple[Couple, Partner, Partner]
) -> None:
    couple, ana, ben = couple_split
    noon = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    start_now(session, noon)
    assert [t.due_at for t in pending(session, checkin.REMIND)] == [noon + timedelta(hours=4)] * 2
    ana_answers_all(session, noon)
    assert keys(fire(session, checkin.REMIND, noon + timedelta(hours=4), partner=ana)) == []
    nudged = fire(session, checkin.REMIND, noon + timedelta(hours=4), partner=ben)
    (reminder,) = sends(nudged)
    assert reminder.to == ToPartner(ben.id or 0) and reminder.force_reply
    shown = render(reminder.body)
    assert "gentle nudge" in shown and "Question 1 of 4" in shown
    assert not any(said in shown for said in ANA_SAYS)
    assert pending(session, checkin.REMIND) == []
    # Delivered twice (the runtime is at-least-once): still only one reminder.
    run(
        session,
        [
            SetTimer(
                checkin.REMIND,
                couple.id or 0,
                noon + timedelta(hours=5),
                {"checkin_id": the_checkin(session).id, "partner_id": ben.id},
            )
        ],
        noon,
    )
    assert sends(fire(session, checkin.REMIND, noon + timedelta(hours=5))) == []


def test_the_reminder_never_falls_at_night_in_that_partners_zone(session: Session) -> None:
    _couple, ana, ben = make_couple(session, zone="Europe/Berlin")
    ben.timezone = "Asia/Tokyo"
    session.add(ben)
    sunday_evening = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)  # 19:00 Berlin, 03:00 Tokyo
    start_now(session, sunday_evening)
    by_partner = {t.payload: t.due_at for t in pending(session, checkin.REMIND)}
    ana_at = next(due for payload, due in by_partner.items() if f": {ana.id}}}" in payload)
    ben_at = next(due for payload, due in by_partner.items() if f": {ben.id}}}" in payload)
    # +4h is 23:00 in Berlin: Ana's reminder waits for 09:00 there.
    assert ana_at.astimezone(BERLIN).strftime("%a %H:%M") == "Mon 09:00"
    # +4h is 07:00 in Tokyo: Ben's waits until 09:00 his time.
    assert ben_at.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%a %H:%M") == "Mon 09:00"
    for due in (ana_at, ben_at):
        local = due.astimezone(BERLIN if due == ana_at else ZoneInfo("Asia/Tokyo")).time()
        assert checkin.MORNING <= local < checkin.NIGHT_FROM
    assert checkin.reminder_time(datetime(2026, 11, 25, 14, 0, tzinfo=UTC), BERLIN) == datetime(
        2026, 11, 25, 14, 0, tzinfo=UTC
    )


def test_after_48_hours_it_closes_without_blame_and_keeps_one_sided_answers_private(
    session: Session, couple_split: tuple[Couple, Partner, Partner]
) -> None:
    couple, ana, _ben = couple_split
    start_now(session)
    ana_answers_all(session)
    (close,) = pending(session, checkin.CLOSE_KIND)
    assert close.due_at == T0 + timedelta(hours=48)
    effects = fire(session, checkin.CLOSE_KIND, close.due_at)
    group = [send for send in sends(effects) if send.to == ToGroup(couple.id or 0)]
    assert len(group) == 1
    text = render(group[0].body)
    assert "Ben didn't get to it this week" in text
    assert not any(said in text for said in ANA_SAYS)  # never shown without Ben's
    (offer,) = [send for send in sends(effects) if send.to == ToPartner(ana.id or 0)]
    assert offer.body.key == "checkin.share_offer"
    assert the_checkin(session).state == checkin.CheckinState.HELD


def test_after_a_one_sided_close_only_the_author_can_share_their_answers(
    session: Session, couple_split: tuple[Couple, Partner, Partner]
) -> None:
    couple, _ana, _ben = couple_split
    start_now(session)
    ana_answers_all(session)
    fire(session, checkin.CLOSE_KIND, T0 + timedelta(hours=48))
    share = buttons.data(checkin.KIND_SHARE, the_checkin(session).id or 0, "share")
    later = T0 + timedelta(hours=49)
    assert keys(press(session, BEN_ID, share, later, private=True)) == ["common.button_expired"]
    assert keys(press(session, STRANGER_ID, share, later)) == ["common.button_for_couple"]
    assert not any(said in group_texts(session, couple) for said in ANA_SAYS)
    effects = press(session, ANA_ID, share, later, private=True)
    (shown,) = [send for send in sends(effects) if send.to == ToGroup(couple.id or 0)]
    text = render(shown.body)
    assert "Ben didn't get to it this week" in text
    assert all(f"Ana: {said}" in text for said in ANA_SAYS)
    assert the_checkin(session).state == checkin.CheckinState.PARTLY
    again = press(session, ANA_ID, share, later, private=True)
    assert keys(again) == ["common.button_expired"]


def test_a_checkin_nobody_answered_closes_quietly(session: Session) -> None:
    make_couple(session)
    start_now(session)
    effects = fire(session, checkin.CLOSE_KIND, T0 + timedelta(hours=48))
    assert keys(effects) == ["checkin.closed_empty"]
    assert the_checkin(session).state == checkin.CheckinState.MISSED


def test_not_tonight_moves_it_to_tomorrow_at_the_same_local_time(session: Session) -> None:
    _couple, ana, _ben = make_couple(session, zone="Europe/Berlin")
    saturday = datetime(2026, 10, 24, 17, 0, tzinfo=UTC)  # 19:00 CEST; clocks go back tonight
    start_now(session, saturday)
    answer_privately(session, ANA_ID, ANA_SAYS[0], saturday)
    checkin_id = the_checkin(session).id or 0
    moved = press(session, BEN_ID, buttons.data("ci", checkin_id, "snooze"), saturday)
    assert "checkin.snoozed" in keys(moved)
    assert the_checkin(session).state == checkin.CheckinState.SNOOZED
    assert pending(session, checkin.REMIND) == [] and pending(session, checkin.CLOSE_KIND) == []
    (resume,) = pending(session, checkin.RESUME)
    assert resume.due_at == datetime(2026, 10, 25, 18, 0, tzinfo=UTC)  # 19:00 CET on Sunday
    again = press(session, ANA_ID, buttons.data("ci", checkin_id, "snooze"), saturday)
    assert keys(again) == ["common.button_expired"]

    back = fire(session, checkin.RESUME, resume.due_at)
    assert "checkin.opening_again" in keys(back)
    assert "Question 2 of 4" in render(question_to(back, ana).body)
    assert the_checkin(session).state == checkin.CheckinState.OPEN
    assert [t.due_at for t in pending(session, checkin.CLOSE_KIND)] == [
        resume.due_at + timedelta(hours=48)
    ]
    assert len(pending(session, checkin.REMIND)) == 2


def test_skip_this_week_ends_it_and_later_answers_are_not_kept(session: Session) -> None:
    make_couple(session)
    start_now(session)
    checkin_id = the_checkin(session).id or 0
    skipped = press(session, ANA_ID, buttons.data("ci", checkin_id, "skip"))
    assert "checkin.skipped" in keys(skipped)
    assert "The next one is Sun 29 Nov, 19:00" in all_text(skipped)
    assert the_checkin(session).state == checkin.CheckinState.SKIPPED
    assert pending(session, checkin.REMIND) == [] and pending(session, checkin.CLOSE_KIND) == []
    assert keys(answer_privately(session, ANA_ID, "late answer")) == ["common.private_only_me"]
    assert session.exec(select(CheckinAnswer)).first() is None


def test_strangers_and_forged_buttons_change_nothing(
    session: Session, couple_split: tuple[Couple, Partner, Partner]
) -> None:
    _couple, _ana, ben = couple_split
    ben_first = question_to(start_now(session), ben)
    checkin_id = the_checkin(session).id or 0
    make_couple(session, group_id=-2002, names=("Cleo", "Dan"), user_ids=(STRANGER_ID, 404))
    for user_id, data, private in [
        (STRANGER_ID, buttons.data("ci", checkin_id, "skip"), False),
        (STRANGER_ID, buttons.data("ci", checkin_id, "snooze"), False),
        (ANA_ID, buttons.data("ci", checkin_id, "skip"), True),  # not from the group
        (ANA_ID, buttons.data("ci", checkin_id, "explode"), False),
        (ANA_ID, buttons.data("ci", checkin_id + 99, "skip"), False),
        (STRANGER_ID, buttons.data("ciq", checkin_id, "pass1"), True),
        (ANA_ID, buttons.data("ciq", checkin_id, "pass9"), True),
        (ANA_ID, buttons.data("ciq", checkin_id, "passx"), True),
        (ANA_ID, buttons.data("cip", 12345, "make"), True),
    ]:
        # Someone outside the couple pressing in their group is told whose buttons they are.
        expected = (
            "common.button_for_couple"
            if user_id == STRANGER_ID and not private
            else "common.button_expired"
        )
        assert keys(press(session, user_id, data, private=private)) == [expected]
    assert the_checkin(session).state == checkin.CheckinState.OPEN
    # Cleo, in another group, forges a button of this couple from her own group.
    forged = buttons.handle_press(
        session,
        in_group(STRANGER_ID, "Cleo", group_id=-2002),
        buttons.data("ci", checkin_id, "skip"),
        T0,
    )
    assert keys(forged) == ["common.button_expired"]
    # A stranger replying to Ben's question, and Ana replying to it, store nothing.
    assert keys(reply_in_group(session, STRANGER_ID, "hi", ben_first.tag)) == [
        "common.only_partners"
    ]
    assert keys(reply_in_group(session, ANA_ID, "for him", ben_first.tag)) == [
        "checkin.not_your_question"
    ]
    assert session.exec(select(CheckinAnswer)).first() is None
    assert the_checkin(session).state == checkin.CheckinState.OPEN


# ---- promises, carry-forward, history ----------------------------------------------


def _finished_week(
    session: Session, now: datetime, ana_says: tuple[str, ...] = ANA_SAYS
) -> Effects:
    ben = session.exec(select(Partner).where(Partner.user_id == BEN_ID)).one()
    ben_first = question_to(start_now(session, now), ben)
    for said in ana_says:
        answer_privately(session, ANA_ID, said, now)
    return ben_replies_all(session, ben_first, now)


def test_one_thing_to_do_differently_becomes_a_promise_with_one_tap(
    session: Session,
    couple_split: tuple[Couple, Partner, Partner],
    fake_promises: list[tuple[int, str]],
) -> None:
    _couple, ana, _ben = couple_split
    shown = _finished_week(session, T0)
    (revealed,) = [s for s in sends(shown) if s.body.key == "checkin.reveal"]
    ana_button = next(
        d
        for d in button_data(revealed)
        if d == buttons.data("cip", _answer(session, ana, 4).id or 0, "make")
    )
    assert keys(press(session, BEN_ID, ana_button)) == ["checkin.promise_not_yours"]
    assert fake_promises == []
    tapped = press(session, ANA_ID, ana_button)
    assert fake_promises == [(ana.id, ANA_SAYS[3])]
    assert "checkin.promise_notice" in keys(tapped)
    assert keys(press(session, ANA_ID, ana_button)) == ["checkin.promise_already"]
    assert fake_promises == [(ana.id, ANA_SAYS[3])]


def _answer(session: Session, partner: Partner, question: int) -> CheckinAnswer:
    return session.exec(
        select(CheckinAnswer)
        .where(CheckinAnswer.partner_id == partner.id, CheckinAnswer.question == question)
        .order_by(col(CheckinAnswer.id).desc())
    ).first()  # type: ignore[return-value]


def test_without_promises_the_answer_is_kept_and_offered_once_they_exist(
    session: Session, couple_split: tuple[Couple, Partner, Partner], no_promises: None
) -> None:
    _couple, ana, _ben = couple_split
    _finished_week(session, T0)
    kept = _answer(session, ana, 4)
    tapped = press(session, ANA_ID, buttons.data("cip", kept.id or 0, "make"))
    assert keys(tapped) == ["checkin.promise_kept_for_later"]
    assert kept.promise_state == "wanted" and kept.answer == ANA_SAYS[3]

    offered: list[str] = []

    def offer(session: Session, partner: Partner, what: str, now: datetime) -> Effects:
        offered.append(what)
        return []

    with feature.replaced(promise_offer=offer):
        start_now(session, T0 + timedelta(days=7))
        assert offered == [ANA_SAYS[3]] and kept.promise_state == "offered"
        start_now(session, T0 + timedelta(days=14))
        assert offered == [ANA_SAYS[3]]


def test_last_weeks_still_needs_care_comes_back_at_the_next_checkin(
    session: Session, couple_split: tuple[Couple, Partner, Partner]
) -> None:
    _couple, ana, ben = couple_split
    _finished_week(session, T0)
    next_week = start_now(session, T0 + timedelta(days=7))
    hers = render(question_to(next_week, ana).body)
    assert f'"{ANA_SAYS[0]}". Is it still?' in hers
    assert "Question 1 of 4" in hers
    his = render(question_to(next_week, ben).body)
    assert BEN_SAYS[0] in his and ANA_SAYS[0] not in his


def test_history_shows_done_partly_skipped_and_the_streak_forgives_one_missed_week(
    session: Session,
) -> None:
    couple, _ana, _ben = make_couple(session)
    sunday = datetime(2026, 11, 29, 19, 0, tzinfo=UTC)

    def week(weeks_ago: int, state: str) -> None:
        at = sunday - timedelta(days=7 * weeks_ago)
        session.add(
            Checkin(
                couple_id=couple.id or 0, planned_at=at, started_at=at, state=state, closed_at=at
            )
        )

    # Oldest first: done, done, (nothing), done, skipped, done, partly(this week)
    for weeks_ago, state in [
        (6, "done"),
        (5, "done"),
        (3, "done"),
        (2, "skipped"),
        (1, "done"),
        (0, "partly"),
    ]:
        week(weeks_ago, state)
    session.flush()
    now = sunday + timedelta(hours=2)
    # This week (partly) and two weeks ago (skipped) are each one missed week between
    # done ones; four weeks ago had no check-in, also alone: nothing resets.
    assert checkin.streak(session, couple, now) == 4
    shown = all_text(checkin.history(session, in_group(ANA_ID), "", now))
    for label in ("done", "partly", "skipped"):
        assert f": {label}" in shown
    assert "Streak: 4 weeks done" in shown


def test_two_missed_weeks_in_a_row_end_the_streak(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    sunday = datetime(2026, 11, 29, 19, 0, tzinfo=UTC)
    for weeks_ago, state in [(5, "done"), (4, "done"), (3, "skipped"), (2, "missed"), (1, "done")]:
        at = sunday - timedelta(days=7 * weeks_ago)
        session.add(Checkin(couple_id=couple.id or 0, planned_at=at, started_at=at, state=state))
    session.flush()
    # This week's check-in has not happened yet: it does not count against the streak.
    assert checkin.streak(session, couple, sunday - timedelta(days=2)) == 1


def test_a_real_week_by_week_streak(
    session: Session, couple_split: tuple[Couple, Partner, Partner]
) -> None:
    couple, _ana, _ben = couple_split
    _finished_week(session, T0)
    start_now(session, T0 + timedelta(days=7))
    press(
        session,
        ANA_ID,
        buttons.data("ci", the_checkin(session).id or 0, "skip"),
        T0 + timedelta(days=7),
    )
    _finished_week(session, T0 + timedelta(days=14))
    assert checkin.streak(session, couple, T0 + timedelta(days=15)) == 2


def test_leaving_stops_an_open_checkin(session: Session) -> None:
    _couple, ana, _ben = make_couple(session)
    start_now(session)
    effects = onboarding.press_leave(
        session, in_private(ANA_ID), buttons.Press("leave", ana.id or 0, "yes"), T0
    )
    run(session, effects, T0)
    assert the_checkin(session).state == checkin.CheckinState.STOPPED


def test_settings_show_the_weekly_checkin(session: Session) -> None:
    make_couple(session, zone="Europe/Berlin")
    shown = all_text(onboarding.show_settings(session, in_group(ANA_ID), "", T0))
    assert "Weekly check-in: Sundays at 19:00 (Berlin)" in shown
    checkin.checkin(session, in_group(ANA_ID), "off", T0)
    assert "Weekly check-in: off" in all_text(
        onboarding.show_settings(session, in_group(ANA_ID), "", T0)
    )


def test_a_scheduled_checkin_waits_while_a_break_is_on_and_starts_after_it(
    session: Session,
) -> None:
    from flows import pause

    couple, _ana, _ben = make_couple(session)
    _schedule, planned = checkin.ensure_schedule(session, couple, T0)
    run(session, planned, T0)
    (start,) = pending(session, checkin.START)
    sunday = start.due_at
    run(session, pause.pause(session, in_group(ANA_ID, "Ana"), "60", sunday), sunday)
    effects = fire(session, checkin.START, sunday)
    assert sends(effects) == [] and the_checkin(session) is None  # not mid-fight
    (waiting,) = pending(session, checkin.START)
    assert waiting.due_at == sunday + checkin.QUIET_RETRY
    run(
        session,
        pause.back(session, in_group(BEN_ID, "Ben"), "", sunday + timedelta(minutes=20)),
        sunday + timedelta(minutes=20),
    )
    run(
        session,
        pause.back(session, in_group(ANA_ID, "Ana"), "", sunday + timedelta(minutes=20)),
        sunday + timedelta(minutes=20),
    )
    opened = fire(session, checkin.START, waiting.due_at)
    assert any(send.to == ToGroup(couple.id or 0) for send in sends(opened))
    assert the_checkin(session).state == checkin.CheckinState.OPEN
    assert the_checkin(session).planned_at == sunday  # still this week's check-in
    (next_week,) = pending(session, checkin.START)
    assert next_week.due_at == sunday + timedelta(days=7)


def test_a_reminder_waits_while_a_break_is_on(
    session: Session, couple_split: tuple[Couple, Partner, Partner]
) -> None:
    from flows import pause

    _couple, _ana, ben = couple_split
    start_now(session)
    (reminder,) = [
        row for row in pending(session, checkin.REMIND) if f'"partner_id": {ben.id}' in row.payload
    ]
    run(
        session,
        pause.pause(session, in_group(ANA_ID, "Ana"), "60", reminder.due_at),
        reminder.due_at,
    )
    effects = fire(session, checkin.REMIND, reminder.due_at, partner=ben)
    assert sends(effects) == []
    (later,) = [
        row for row in pending(session, checkin.REMIND) if f'"partner_id": {ben.id}' in row.payload
    ]
    assert later.due_at == reminder.due_at + checkin.QUIET_RETRY


# ---- natural wording and other languages ---------------------------------------------


def test_a_day_and_its_evening_offers_three_times_and_a_tap_moves_the_checkin(
    session: Session,
) -> None:
    couple, _ana, _ben = make_couple(session)
    offered = checkin.checkin(session, in_group(ANA_ID), "sunday evening", T0)
    assert keys(offered) == ["checkin.pick_time"]
    labels = [render(button.label) for row in sends(offered)[0].buttons for button in row]
    assert labels == ["Sundays at 18:00", "Sundays at 19:00", "Sundays at 20:00"]
    schedule = session.exec(select(CheckinSchedule)).one()
    assert (schedule.weekday, schedule.at) == (6, "19:00")  # nothing moved yet
    eight = button_data(sends(offered)[0])[2]
    moved = press(session, BEN_ID, eight)
    assert "Ben moved the weekly check-in to Sundays at 20:00" in all_text(moved)
    assert (schedule.weekday, schedule.at) == (6, "20:00")
    stranger = press(session, STRANGER_ID, buttons.data(checkin.KIND_TIME, couple.id or 0, "61800"))
    assert keys(stranger) != ["checkin.moved"] and schedule.at == "20:00"
    forged = press(session, ANA_ID, buttons.data(checkin.KIND_TIME, couple.id or 0, "92500"))
    assert keys(forged) == ["common.button_expired"] and schedule.at == "20:00"


def test_a_german_speaker_moves_the_checkin_in_german(session: Session) -> None:
    _couple, ana, _ben = make_couple(session, zone="Europe/Berlin")
    ana.language = "de"
    session.add(ana)
    effects = checkin.checkin(session, in_group(ANA_ID), "Mi 20:30", T0)
    moved = next(send for send in sends(effects) if send.body.key == "checkin.moved")
    german = render(moved.body, "de")
    assert "auf mittwochs um 20:30 verschoben" in german
    assert "Mi., 25. Nov. um 20:30 (Berlin)" in german
    assert keys(checkin.checkin(session, in_group(ANA_ID), "aus", T0))[-1] == "checkin.switched_off"


def test_at_7_for_the_checkin_is_the_evening(session: Session) -> None:
    make_couple(session)
    checkin.checkin(session, in_group(ANA_ID), "sun 7", T0)
    schedule = session.exec(select(CheckinSchedule)).one()
    assert (schedule.weekday, schedule.at) == (6, "19:00")


# ---- only real answers unlock the other's -------------------------------------------------


def _ben_skips(session: Session, questions: tuple[int, ...], now: datetime = T0) -> Effects:
    checkin_id = the_checkin(session).id or 0
    effects: Effects = []
    for number in questions:
        effects = press(
            session, BEN_ID, buttons.data("ciq", checkin_id, f"pass{number}"), now, private=True
        )
    return effects


def test_a_partner_who_only_skipped_does_not_unlock_the_others_answers_at_the_close(
    session: Session,
) -> None:
    couple, ana, ben = make_couple(session)
    start_now(session)
    ana_answers_all(session)
    _ben_skips(session, (1,))
    effects = fire(session, checkin.CLOSE_KIND, T0 + timedelta(hours=48))
    assert "checkin.reveal" not in keys(effects)
    assert not any(said in group_texts(session, couple) for said in ANA_SAYS)
    assert "Ben didn't get to it this week" in all_text(effects)
    offers = [send.to for send in sends(effects) if send.body.key == "checkin.share_offer"]
    assert offers == [ToPartner(ana.id or 0)]
    assert the_checkin(session).state == checkin.CheckinState.HELD
    share = buttons.data(checkin.KIND_SHARE, the_checkin(session).id or 0, "share")
    assert keys(press(session, BEN_ID, share, T0 + timedelta(hours=49), private=True)) == [
        "common.button_expired"
    ]
    assert ben.id is not None


def test_skipping_every_question_does_not_unlock_the_others_answers(session: Session) -> None:
    couple, ana, _ben = make_couple(session)
    start_now(session)
    ana_answers_all(session)
    effects = _ben_skips(session, QUESTIONS_ALL)
    assert "checkin.reveal" not in keys(effects)
    assert not any(said in group_texts(session, couple) for said in ANA_SAYS)
    assert the_checkin(session).state == checkin.CheckinState.HELD
    offers = [send.to for send in sends(effects) if send.body.key == "checkin.share_offer"]
    assert offers == [ToPartner(ana.id or 0)]


def test_when_both_only_skipped_the_checkin_ends_quietly(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    start_now(session)
    checkin_id = the_checkin(session).id or 0
    for number in QUESTIONS_ALL:
        press(session, ANA_ID, buttons.data("ciq", checkin_id, f"pass{number}"), private=True)
    effects = _ben_skips(session, QUESTIONS_ALL)
    assert keys(effects)[-1] == "checkin.closed_empty"
    assert the_checkin(session).state == checkin.CheckinState.MISSED
    assert pending(session, checkin.CLOSE_KIND) == []
    assert couple.id is not None


QUESTIONS_ALL = checkin.QUESTIONS
