"""The first week: the time-zone step, every menu command tapped bare, and an answer to
every reply (issue 16)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.delivery.models import Outbox, Timer
from bot.delivery.outbox import persist
from bot.delivery.timers import handle_due
from bot.texts import BOT, WORD_JOINER, render, render_keyboard
from flows import buttons, checkin, onboarding, pause, promises
from flows.checkin import CheckinSchedule
from flows.couples import parse_zone
from flows.inputs import Said, handle_text
from flows.models import Couple
from flows.outcome import EditOrigin, EditTagged, Effects, Text, ToChat, ToGroup, text
from tests.helpers import (
    ANA_ID,
    BEN_ID,
    STRANGER_ID,
    T0,
    all_text,
    button_data,
    edits,
    in_group,
    in_private,
    keys,
    make_couple,
    sends,
    timers,
)

BERLIN = ZoneInfo("Europe/Berlin")


def run(session: Session, effects: Effects, now: datetime = T0) -> Effects:
    persist(session, effects, now, claim=False)
    session.flush()
    return effects


def pending(session: Session, kind: str | None = None) -> list[Timer]:
    query = select(Timer).where(Timer.state == "pending")
    if kind is not None:
        query = query.where(Timer.kind == kind)
    return list(session.exec(query.order_by(col(Timer.due_at))))


def press(
    session: Session, user_id: int, data: str, now: datetime = T0, private: bool = False
) -> Effects:
    actor = in_private(user_id) if private else in_group(user_id)
    return run(session, buttons.handle_press(session, actor, data, now), now)


def reply(
    session: Session,
    user_id: int,
    said: str,
    tag: str | None,
    now: datetime = T0,
    private: bool = False,
) -> Effects:
    actor = in_private(user_id) if private else in_group(user_id)
    return run(session, handle_text(session, actor, Said(said, tag, is_reply=True), now), now)


def typed_in_private(
    session: Session, user_id: int, said: str, tag: str | None = None, now: datetime = T0
) -> Effects:
    return run(session, handle_text(session, in_private(user_id), Said(said, tag), now), now)


def formed(session: Session, zone: str = "Europe/Berlin") -> tuple[Couple, Effects]:
    """Ana sends /start in the group; both tap "I'm in". Returns what the second tap did."""
    run(session, onboarding.start(session, in_group(ANA_ID, "Ana"), "", zone, T0))
    couple = session.exec(select(Couple)).one()
    join = buttons.data(onboarding.JOIN, couple.id or 0, "in")
    run(session, buttons.handle_press(session, in_group(ANA_ID, "Ana"), join, T0))
    effects = run(session, buttons.handle_press(session, in_group(BEN_ID, "Ben"), join, T0))
    return couple, effects


def zone_data(couple: Couple, action: str) -> str:
    return buttons.data(onboarding.ZONE, couple.id or 0, action)


# ---- the time-zone step ------------------------------------------------------------


def test_forming_says_which_zone_and_its_local_time_and_plans_no_checkin_yet(
    session: Session,
) -> None:
    couple, effects = formed(session)
    (question,) = [s for s in sends(effects) if s.body.key == "onboarding.zone_question"]
    assert question.to == ToGroup(couple.id or 0)
    # T0 is 18:00 UTC: 19:00 in Berlin.
    assert "Berlin time, where it's 19:00 now" in render(question.body)
    assert button_data(question) == [zone_data(couple, "ok"), zone_data(couple, "change")]
    assert couple.zone_pending
    assert pending(session, checkin.START) == []
    (reminder,) = pending(session, onboarding.ZONE_REMINDER)
    assert reminder.due_at == T0 + timedelta(days=1)


def test_thats_right_plans_the_first_checkin_and_leaves_a_one_line_summary(
    session: Session,
) -> None:
    couple, _ = formed(session)
    effects = press(session, BEN_ID, zone_data(couple, "ok"))
    (start,) = pending(session, checkin.START)
    assert start.due_at == datetime(2026, 11, 29, 18, 0, tzinfo=UTC)  # Sun 19:00 CET
    (summary,) = edits(effects)
    assert summary.buttons == () and "\n" not in render(summary.body or Text(""))
    assert "Berlin time, confirmed by Ben" in render(summary.body or Text(""))
    assert not couple.zone_pending
    assert pending(session, onboarding.ZONE_REMINDER) == []


def test_change_asks_for_a_city_as_a_reply_prompt_and_the_city_sets_the_zone(
    session: Session,
) -> None:
    couple, _ = formed(session, zone="UTC")
    effects = press(session, ANA_ID, zone_data(couple, "change"))
    (asked,) = sends(effects)
    assert asked.force_reply and asked.tag == f"zone:{couple.id}"
    assert "Which city are you in?" in render(asked.body)
    answered = reply(session, BEN_ID, "Lisbon", asked.tag)
    assert couple.timezone == "Europe/Lisbon" and not couple.zone_pending
    assert "onboarding.timezone_set" in keys(answered)
    (start,) = pending(session, checkin.START)
    assert start.due_at == datetime(2026, 11, 29, 19, 0, tzinfo=UTC)  # Sun 19:00 in Lisbon


def test_an_unknown_city_is_answered_kindly_asked_again_and_changes_nothing(
    session: Session,
) -> None:
    couple, _ = formed(session, zone="UTC")
    effects = reply(session, ANA_ID, "Atlantis", f"zone:{couple.id}")
    assert keys(effects) == ["onboarding.timezone_unknown", "onboarding.ask_city"]
    assert sends(effects)[1].force_reply
    assert couple.timezone == "UTC" and couple.zone_pending
    assert pending(session, checkin.START) == []


def test_the_zone_question_comes_back_once_a_day_later_only_if_nobody_answered(
    session: Session,
) -> None:
    couple, _ = formed(session)
    (reminder,) = pending(session, onboarding.ZONE_REMINDER)
    effects, _state, _late = handle_due(session, reminder, T0 + timedelta(days=1))
    assert keys(effects) == ["onboarding.zone_reminder"]
    assert button_data(sends(effects)[0]) == [zone_data(couple, "ok"), zone_data(couple, "change")]
    couple.zone_pending = False
    effects, _state, _late = handle_due(session, reminder, T0 + timedelta(days=1))
    assert effects == []


def test_a_stranger_cannot_confirm_the_zone(session: Session) -> None:
    couple, _ = formed(session)
    effects = press(session, STRANGER_ID, zone_data(couple, "ok"))
    assert keys(effects) == ["common.button_for_couple"]
    assert "This is for Ana and Ben" in all_text(effects)
    assert couple.zone_pending


def test_checkin_status_says_it_waits_for_the_zone(session: Session) -> None:
    formed(session)
    effects = checkin.checkin(session, in_group(ANA_ID), "", T0)
    assert "once one of you has confirmed your time zone" in all_text(effects)


# ---- a zone change moves every wall-clock timer ---------------------------------------


def test_a_zone_change_moves_promise_timers_to_the_same_local_time_across_dst(
    session: Session,
) -> None:
    # Wed 25 Mar 2026; Berlin moves to summer time on Sun 29 Mar.
    now = datetime(2026, 3, 25, 6, 0, tzinfo=UTC)
    _couple, _ana, _ben = make_couple(session, zone="UTC", now=now)
    run(
        session, promises.make_promise(session, in_group(ANA_ID), "make tea daily at 9am", now), now
    )
    run(session, pause.pause(session, in_group(BEN_ID), "60", now), now)
    before = {t.kind: t.due_at for t in pending(session)}
    assert before[promises.NUDGE_KIND] == datetime(2026, 3, 25, 9, 0, tzinfo=UTC)
    run(session, onboarding.set_timezone(session, in_group(ANA_ID), "Berlin", now), now)
    after = {t.kind: t for t in pending(session)}
    nudge = after[promises.NUDGE_KIND]
    assert nudge.due_at.astimezone(BERLIN).strftime("%a %H:%M") == "Wed 09:00"
    assert nudge.due_at == datetime(2026, 3, 25, 8, 0, tzinfo=UTC)  # CET, UTC+1
    # A break is a length, not a time of day: it comes back when it was agreed to.
    assert after[pause.RETURN_KIND].due_at == before[pause.RETURN_KIND]
    # After the change to summer time, 09:00 in Berlin is 07:00 UTC, not 08:00.
    sunday = datetime(2026, 3, 29, 9, 0, tzinfo=UTC)
    other, _cleo, _dan = make_couple(session, zone="UTC", group_id=-2002, user_ids=(303, 404))
    row = Timer(
        couple_id=other.id or 0,
        kind=promises.NUDGE_KIND,
        ref="promise:dst",
        due_at=sunday,
        payload="{}",
        created_at=now,
    )
    session.add(row)
    session.flush()
    moved = onboarding.move_local_timers(session, other, ZoneInfo("UTC"), BERLIN)
    assert [t.due_at for t in timers(moved)] == [datetime(2026, 3, 29, 7, 0, tzinfo=UTC)]


def test_a_partners_own_zone_keeps_their_timers_when_the_couples_zone_changes(
    session: Session,
) -> None:
    _couple, _ana, _ben = make_couple(session, zone="UTC")
    run(session, onboarding.set_my_timezone(session, in_group(ANA_ID), "Tokyo", T0))
    run(session, promises.make_promise(session, in_group(ANA_ID), "make tea daily at 9am", T0))
    (kept,) = [t.due_at for t in pending(session, promises.NUDGE_KIND)]
    run(session, onboarding.set_timezone(session, in_group(BEN_ID), "Berlin", T0))
    assert [t.due_at for t in pending(session, promises.NUDGE_KIND)] == [kept]
    # Her own zone changing moves them: 09:00 in Tokyo becomes 09:00 in Lisbon.
    run(session, onboarding.set_my_timezone(session, in_group(ANA_ID), "Lisbon", T0))
    (moved,) = pending(session, promises.NUDGE_KIND)
    assert moved.due_at.astimezone(ZoneInfo("Europe/Lisbon")).strftime("%H:%M") == "09:00"


# ---- bare commands ----------------------------------------------------------------------


def test_bare_timezone_asks_for_the_city_and_a_reply_sets_it(session: Session) -> None:
    couple, _ana, _ben = make_couple(session, zone="UTC")
    (asked,) = sends(onboarding.set_timezone(session, in_group(ANA_ID), "", T0))
    assert asked.force_reply and "Which city are you in?" in render(asked.body)
    reply(session, BEN_ID, "Berlin", asked.tag)
    assert couple.timezone == "Europe/Berlin"


def test_bare_mytimezone_asks_and_a_city_typed_in_private_sets_it(session: Session) -> None:
    _couple, ana, _ben = make_couple(session, zone="UTC")
    (asked,) = sends(onboarding.set_my_timezone(session, in_private(ANA_ID), "", T0))
    assert asked.force_reply and asked.tag == f"myzone:{ana.id}"
    effects = typed_in_private(session, ANA_ID, "Tokyo", asked.tag)
    assert ana.timezone == "Asia/Tokyo" and keys(effects) == ["onboarding.mytimezone_set"]
    # Later text that is no city is not taken as one.
    effects = typed_in_private(session, ANA_ID, "Are you still mad at me?", asked.tag)
    assert keys(effects) == ["common.private_only_me"] and ana.timezone == "Asia/Tokyo"
    # Ben cannot answer Ana's question.
    refused = reply(session, BEN_ID, "Lisbon", asked.tag)
    assert keys(refused) == ["onboarding.zone_not_yours"] and ana.timezone == "Asia/Tokyo"


def test_bare_promise_asks_what_and_the_answer_goes_on_to_when(session: Session) -> None:
    make_couple(session)
    (asked,) = sends(promises.make_promise(session, in_group(ANA_ID), "", T0, cap=3))
    assert asked.force_reply and "what will you promise?" in render(asked.body)
    effects = reply(session, ANA_ID, "do the dishes", asked.tag)
    assert keys(effects) == ["promises.ask_when"]
    assert button_data(sends(effects)[0])  # the existing "when?" buttons
    made = reply(session, ANA_ID, "do the dishes every evening", asked.tag)
    assert keys(made)[0] == "promises.made"
    # Ben replying to Ana's question is told whose it is.
    assert keys(reply(session, BEN_ID, "water the plants", asked.tag)) == [
        "promises.ask_what_not_yours"
    ]


def test_the_promise_question_carries_the_configured_cap(session: Session) -> None:
    make_couple(session)
    (asked,) = sends(promises.make_promise(session, in_group(ANA_ID), "", T0, cap=1))
    reply(session, ANA_ID, "make tea daily", asked.tag)
    assert keys(reply(session, ANA_ID, "walk daily", asked.tag)) == ["promises.cap_reached"]


def test_bare_drop_offers_one_button_per_own_active_promise(session: Session) -> None:
    make_couple(session)
    run(session, promises.make_promise(session, in_group(ANA_ID), "make tea daily", T0))
    run(session, promises.make_promise(session, in_group(BEN_ID), "call mum daily", T0))
    effects = promises.drop(session, in_group(ANA_ID), "", T0)
    # `what` is stored marked (pln1:/enc1:), so it is compared once read, not in SQL.
    (mine,) = [p for p in session.exec(select(promises.Promise)).all() if p.what == "make tea"]
    assert button_data(sends(effects)[0]) == [buttons.data(promises.CHANGE, mine.id or 0, "drop")]
    assert "make tea" in render(sends(effects)[0].buttons[0][0].label)
    press(session, ANA_ID, button_data(sends(effects)[0])[0])
    assert mine.state == "dropped"
    assert keys(promises.drop(session, in_group(ANA_ID), "", T0)) == ["promises.drop_none"]


def test_bare_checkin_shows_when_with_start_move_and_off(session: Session) -> None:
    couple, _ana, _ben = make_couple(session, zone="Europe/Berlin")
    effects = run(session, checkin.checkin(session, in_group(ANA_ID), "", T0))
    status = next(s for s in sends(effects) if s.body.key == "checkin.status")
    data = button_data(status)
    assert data == [
        buttons.data(checkin.KIND_MENU, couple.id or 0, action) for action in ("now", "move", "off")
    ]
    moved = press(session, ANA_ID, data[1])
    (asked,) = sends(moved)
    assert asked.force_reply and edits(moved) == [EditOrigin(buttons=())]
    done = reply(session, BEN_ID, "wed 20:30", asked.tag)
    assert keys(done) == ["checkin.moved"]
    schedule = session.exec(select(CheckinSchedule)).one()
    assert (schedule.weekday, schedule.at) == (2, "20:30")
    assert keys(reply(session, BEN_ID, "whenever", asked.tag)) == ["checkin.not_understood_move"]
    press(session, ANA_ID, data[2])
    assert not schedule.active and pending(session, checkin.START) == []
    started = press(session, BEN_ID, data[0])
    assert "checkin.opening" in keys(started)


def test_unclear_pause_shows_the_buttons_and_a_number_in_reply_starts_it(session: Session) -> None:
    make_couple(session)
    (asked,) = sends(pause.pause(session, in_group(ANA_ID), "a while", T0))
    assert asked.body.key == "pause.choose_unclear" and button_data(asked)
    effects = reply(session, ANA_ID, "45 minutes", asked.tag)
    (started,) = [s for s in sends(effects) if s.body.key == "pause.started"]
    assert "a break of 45 min" in render(started.body)


def test_a_stranger_in_private_gets_an_add_to_group_button(session: Session) -> None:
    BOT.username = "mend_test_bot"
    for effects in (
        onboarding.start(session, in_private(STRANGER_ID), "", "UTC", T0),
        typed_in_private(session, STRANGER_ID, "hello?"),
        promises.list_promises(session, in_private(STRANGER_ID), "", T0),
    ):
        (said,) = sends(effects)
        (row,) = render_keyboard(said.buttons)
        assert row == [
            {"text": "Add Mend to your group", "url": "https://t.me/mend_test_bot?startgroup=mend"}
        ]


# ---- every reply gets an answer -----------------------------------------------------------


def test_a_group_reply_to_a_message_without_a_question_says_where_it_belongs(
    session: Session,
) -> None:
    couple, _ana, ben = make_couple(session)
    # Ben answers the check-in opening in the group while his questions wait in private.
    effects = reply(session, BEN_ID, "I felt far away this week", None)
    (told,) = sends(effects)
    assert told.to == ToChat(couple.group_chat_id)
    assert "Ben, I didn't keep this" in render(told.body)
    assert "your own questions come to you in our private chat" in render(told.body)
    assert "may want to delete it" in render(told.body)
    ben.private_open = False
    effects = reply(session, BEN_ID, "hello", None)
    assert keys(effects) == ["common.reply_unplaced"]
    # Ordinary group chat (not a reply to Mend) is never answered.
    plain = handle_text(session, in_group(BEN_ID), Said("hello"), T0)
    assert plain == []


def test_private_text_with_no_open_question_says_the_partner_did_not_get_it(
    session: Session,
) -> None:
    make_couple(session)
    effects = typed_in_private(session, ANA_ID, "Are you still mad at me?")
    assert render(sends(effects)[0].body).startswith(
        "Only I can see this here; Ben didn't get it. To tell Ben, write it in your group."
    )


# ---- finished steps tidy up, and values stay text ---------------------------------------------


def test_agreeing_to_a_pause_turns_the_question_into_one_line_without_buttons(
    session: Session,
) -> None:
    make_couple(session)
    run(session, pause.pause(session, in_group(ANA_ID), "60", T0))
    row = session.exec(select(pause.Pause)).one()
    effects = press(session, BEN_ID, buttons.data(pause.PAUSE, row.id or 0, "ok"))
    (summary,) = edits(effects)
    assert summary.buttons == ()
    assert render(summary.body or Text("")) == "Ana's break: back at 19:00, agreed."


def test_onboarding_reads_in_order(session: Session) -> None:
    _couple, effects = formed(session)
    (intro,) = edits(effects)
    assert "both in" not in render(intro.body or Text(""))


def test_a_command_a_person_wrote_is_not_tappable_when_repeated(session: Session) -> None:
    shown = render(
        text(
            "promises.list_line",
            number=1,
            name="Ana",
            what="/pause less",
            schedule="daily",
            remind="09:00",
        )
    )
    assert f"/{WORD_JOINER}pause less" in shown
    assert "/pause less" not in shown
    # The catalogue's own commands stay commands.
    assert "/drop 2" in render(text("promises.drop_usage"))
    assert render(text("onboarding.timezone_set", zone="Europe/Berlin", local="x")).startswith(
        "Time zone set to Europe/Berlin."
    )


def test_a_stranger_pressing_a_live_button_is_told_whose_it_is(session: Session) -> None:
    make_couple(session)
    run(session, pause.pause(session, in_group(ANA_ID), "60", T0))
    row = session.exec(select(pause.Pause)).one()
    effects = press(session, STRANGER_ID, buttons.data(pause.PAUSE, row.id or 0, "ok"))
    assert all_text(effects).startswith("This is for Ana and Ben.")
    assert row.state == pause.PauseState.WAITING


def test_a_finished_checkins_buttons_turn_into_one_line(session: Session) -> None:
    make_couple(session)
    run(session, checkin.checkin(session, in_group(ANA_ID), "now", T0))
    row = session.exec(select(checkin.Checkin)).one()
    skip = buttons.data(checkin.KIND_CHECKIN, row.id or 0, "skip")
    press(session, BEN_ID, skip)
    later = press(session, ANA_ID, buttons.data(checkin.KIND_CHECKIN, row.id or 0, "snooze"))
    (summary,) = edits(later)
    assert summary.buttons == ()
    assert render(summary.body or Text("")) == "This week's check-in: skipped."
    assert row.state == checkin.CheckinState.SKIPPED


def test_change_buttons_after_the_reveal_turn_into_one_line(session: Session) -> None:
    make_couple(session)
    run(session, checkin.checkin(session, in_group(ANA_ID), "now", T0))
    for user_id in (ANA_ID, BEN_ID):
        for said in ("a", "b", "c", "d"):
            typed_in_private(session, user_id, said)
    row = session.exec(select(checkin.Checkin)).one()
    assert row.state == checkin.CheckinState.DONE
    effects = press(
        session, ANA_ID, buttons.data(checkin.KIND_QUESTION, row.id or 0, "edit2"), private=True
    )
    assert keys(effects) == ["checkin.too_late_to_edit", "checkin.shared_line"]
    assert edits(effects)[0].buttons == ()


def test_a_city_given_for_the_zone_turns_the_zone_question_into_one_line(
    session: Session,
) -> None:
    couple, _ = formed(session, zone="UTC")
    (asked,) = sends(press(session, ANA_ID, zone_data(couple, "change")))
    answered = reply(session, BEN_ID, "Lisbon", asked.tag)
    (tidy,) = [effect for effect in answered if isinstance(effect, EditTagged)]
    assert tidy.to == ToGroup(couple.id or 0) and tidy.buttons == ()
    question, prompt = session.exec(
        select(Outbox).where(Outbox.tag == f"zone:{couple.id}").order_by(col(Outbox.id))
    ).all()
    assert question.key == "onboarding.zone_question" and question.markup is None
    assert question.body == "Times are in Lisbon time. /timezone changes it."
    assert prompt.markup is not None and "force_reply" in prompt.markup  # the prompt stays
    # Once settled, a later change has no question left to tidy.
    later = run(session, onboarding.set_timezone(session, in_group(ANA_ID), "Berlin", T0), T0)
    assert not [effect for effect in later if isinstance(effect, EditTagged)]


def test_german_city_names_find_their_zone_with_or_without_umlauts() -> None:
    assert parse_zone("München") == parse_zone("Muenchen") == parse_zone("munchen")
    assert parse_zone("München") == "Europe/Berlin" and parse_zone("Köln") == "Europe/Berlin"
    assert parse_zone("Wien") == "Europe/Vienna" and parse_zone("Graz") == "Europe/Vienna"
    assert parse_zone("Zürich") == parse_zone("zuerich") == "Europe/Zurich"
    assert parse_zone("Genf") == "Europe/Zurich" and parse_zone("Lissabon") == "Europe/Lisbon"
    assert parse_zone("São Paulo") == parse_zone("Sao Paulo") == "America/Sao_Paulo"
    assert parse_zone("Port-au-Prince") == "America/Port-au-Prince"
    assert parse_zone("Wienerwald") is None


def test_a_german_couple_answers_which_city_with_wien(session: Session) -> None:
    couple, _ = formed(session, zone="UTC")
    (asked,) = sends(press(session, ANA_ID, zone_data(couple, "change")))
    reply(session, BEN_ID, "Wien", asked.tag)
    assert couple.timezone == "Europe/Vienna" and not couple.zone_pending
