"""Pause rules: bounds, agreement, proposals, times in each zone, history, restarts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.delivery.models import Timer
from bot.delivery.timers import handle_due
from flows import buttons, onboarding
from flows import pause as flow
from flows.hooks import is_quiet
from flows.outcome import SetTimer, ToGroup, ToPartner
from flows.pause import Pause
from tests.flows.pause.helpers import (
    MIN,
    agreed_pause,
    fire,
    only_pause,
    pending,
    press,
    pz,
    run,
    start,
)
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
    shown,
)

# ---- starting and bounds --------------------------------------------------------------


def test_pause_60_posts_who_asked_the_return_time_and_buttons_for_the_other(
    session: Session,
) -> None:
    couple, ana, ben = make_couple(session)
    effects = start(session, ANA_ID, "60")
    [posted] = sends(effects)
    assert posted.to == ToGroup(couple.id or 0)
    body = shown(posted.body)
    assert "Ana asked for a break of an hour" in body and "19:00" in body
    assert "rehearse the argument" in body and "Ben:" in body
    row = only_pause(session)
    assert (row.asked_by, row.other_id, row.return_at) == (ana.id, ben.id, T0 + timedelta(hours=1))
    assert button_data(posted) == [pz(row, "ok"), pz(row, "p30"), pz(row, "p120"), pz(row, "p240")]
    assert [t.kind for t in pending(session)] == [flow.RETURN_KIND]
    assert pending(session)[0].due_at == T0 + timedelta(hours=1)


@pytest.mark.parametrize(
    ("given", "minutes"),
    [
        ("60", 60),
        ("90m", 90),
        ("90 min", 90),
        ("1h30", 90),
        ("1h 30m", 90),
        ("1h", 60),
        ("2 hours", 120),
        ("1:30", 90),
        ("24h", 1440),
        ("20", 20),
        ("two hours", 120),
        ("45 minutes", 45),
    ],
)
def test_pause_understands_the_usual_ways_of_saying_a_length(
    session: Session, given: str, minutes: int
) -> None:
    make_couple(session)
    start(session, ANA_ID, given)
    row = only_pause(session)
    assert row.return_at - row.started_at == timedelta(minutes=minutes)


def test_bare_pause_offers_20_30_60_120_and_the_tapper_is_the_one_asking(session: Session) -> None:
    couple, _ana, ben = make_couple(session)
    effects = start(session, BEN_ID, "")
    assert keys(effects) == ["pause.choose"]
    assert button_data(sends(effects)[0]) == [
        buttons.data(flow.START, couple.id or 0, str(m)) for m in (20, 30, 60, 120)
    ]
    assert session.exec(select(Pause)).first() is None
    tapped = press(session, ANA_ID, buttons.data(flow.START, couple.id or 0, "30"), T0)
    row = only_pause(session)
    assert row.asked_by != ben.id and row.return_at == T0 + timedelta(minutes=30)
    assert "pause.started" in keys(tapped)
    # The choice buttons are gone, and a second tap starts nothing.
    again = press(session, BEN_ID, buttons.data(flow.START, couple.id or 0, "20"), T0)
    assert keys(again) == ["pause.already_on_notice"]
    assert len(session.exec(select(Pause)).all()) == 1


def test_pause_below_20_minutes_is_raised_to_20_with_the_reason(session: Session) -> None:
    make_couple(session)
    effects = start(session, ANA_ID, "5")
    assert only_pause(session).return_at == T0 + timedelta(minutes=20)
    assert "I made it 20 minutes" in all_text(effects)


def test_pause_of_exactly_20_minutes_is_not_raised(session: Session) -> None:
    make_couple(session)
    assert "I made it 20 minutes" not in all_text(start(session, ANA_ID, "20"))


def test_pause_over_24_hours_is_refused_with_the_reason(session: Session) -> None:
    make_couple(session)
    for too_long in ["25h", "1441", "24h1"]:
        effects = start(session, ANA_ID, too_long)
        assert keys(effects) == ["pause.too_long"]
        assert "punishment" in all_text(effects)
    assert session.exec(select(Pause)).first() is None
    assert pending(session) == []


@pytest.mark.parametrize(
    "nonsense",
    [
        "0",
        "-5",
        "-1h",
        "abc",
        "99999",
        "1h99",
        "0h",
        "0m",
        "1.5h",
        "60 60",
        "x" * 300,
        "1h30x",
        "'; drop table pause; --",
    ],
)
def test_malformed_pause_gets_the_duration_buttons_and_changes_nothing(
    session: Session, nonsense: str
) -> None:
    couple, _ana, _ben = make_couple(session)
    effects = start(session, ANA_ID, nonsense)
    assert keys(effects) == ["pause.choose_unclear"]
    assert button_data(sends(effects)[0]) == [
        buttons.data(flow.START, couple.id or 0, str(m)) for m in flow.CHOICES_MINUTES
    ]
    assert session.exec(select(Pause)).first() is None
    assert pending(session) == []


def test_only_partners_may_pause(session: Session) -> None:
    make_couple(session)
    effects = start(session, STRANGER_ID, "60")
    assert keys(effects) == ["common.only_partners"]
    assert session.exec(select(Pause)).first() is None


def test_a_stranger_cannot_start_a_break_with_the_choice_buttons(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    effects = press(session, STRANGER_ID, buttons.data(flow.START, couple.id or 0, "30"), T0)
    assert keys(effects) == ["common.button_for_couple"]
    assert "This is for Ana and Ben" in all_text(effects)
    assert session.exec(select(Pause)).first() is None


def test_pause_in_private_posts_the_same_break_in_the_group(session: Session) -> None:
    couple, ana, _ben = make_couple(session)
    effects = run(session, flow.pause(session, in_private(ANA_ID), "60", T0), T0)
    group = [s for s in sends(effects) if s.to == ToGroup(couple.id or 0)]
    assert [s.body.key for s in group] == ["pause.started"]
    assert "Ana asked for a break of an hour" in shown(group[0].body)
    assert keys(effects)[-1] == "pause.started_from_private"
    assert only_pause(session).asked_by == ana.id


# ---- agreeing and proposing -----------------------------------------------------------


def test_the_other_partner_agrees_to_the_return_time(session: Session) -> None:
    make_couple(session)
    start(session, ANA_ID, "60")
    row = only_pause(session)
    effects = press(session, BEN_ID, pz(row, "ok"), T0 + MIN)
    assert row.state == flow.PauseState.AGREED and row.agreed_at == T0 + MIN
    assert "Ben agreed. See you both back at 19:00." in all_text(effects)
    assert row.return_at == T0 + timedelta(hours=1)


def test_agreement_by_the_one_who_asked_does_not_count(session: Session) -> None:
    make_couple(session)
    start(session, ANA_ID, "60")
    row = only_pause(session)
    effects = press(session, ANA_ID, pz(row, "ok"), T0 + MIN)
    assert keys(effects) == ["pause.agree_is_for_other"]
    assert "Ben" in all_text(effects)
    proposing = press(session, ANA_ID, pz(row, "p120"), T0 + MIN)
    assert keys(proposing) == ["pause.agree_is_for_other"]
    assert row.state == flow.PauseState.WAITING and row.agreed_at is None
    assert row.proposed_return_at is None


def test_a_proposal_goes_back_to_the_first_partner_and_once_accepted_is_kept(
    session: Session,
) -> None:
    couple, _ana, _ben = make_couple(session)
    start(session, ANA_ID, "60")
    row = only_pause(session)
    proposed = press(session, BEN_ID, pz(row, "p120"), T0 + MIN)
    [to_ana] = [s for s in sends(proposed) if s.body.key == "pause.proposed"]
    assert to_ana.to == ToGroup(couple.id or 0)
    assert "Ben would rather come back at 20:00" in shown(to_ana.body)
    assert "Ana: tap below" in shown(to_ana.body) and "keep 19:00" in shown(to_ana.body)
    assert button_data(to_ana) == [pz(row, "acc")]
    assert row.state == flow.PauseState.PROPOSED and row.return_at == T0 + timedelta(hours=1)
    # Only Ana can accept; Ben's own press changes nothing.
    assert keys(press(session, BEN_ID, pz(row, "acc"), T0 + 2 * MIN)) == [
        "pause.accept_is_for_asker"
    ]
    assert row.state == flow.PauseState.PROPOSED
    accepted = press(session, ANA_ID, pz(row, "acc"), T0 + 2 * MIN)
    assert "Ana agreed. See you both back at 20:00." in all_text(accepted)
    assert row.state == flow.PauseState.AGREED
    assert row.return_at == row.agreed_return_at == T0 + timedelta(hours=2)
    assert [(t.kind, t.due_at) for t in pending(session)] == [
        (flow.RETURN_KIND, T0 + timedelta(hours=2))
    ]
    # The old return time brings nothing; the agreed one does.
    assert fire(session, T0 + timedelta(hours=1, minutes=5)) == []
    assert "pause.ready_question" in keys(fire(session, T0 + timedelta(hours=2)))


def test_a_proposal_whose_time_has_passed_is_refused(session: Session) -> None:
    make_couple(session)
    start(session, ANA_ID, "60")
    row = only_pause(session)
    effects = press(session, BEN_ID, pz(row, "p30"), T0 + timedelta(minutes=31))
    assert keys(effects) == ["pause.proposal_passed"]
    assert row.state == flow.PauseState.WAITING


def test_an_unagreed_pause_still_brings_its_return_message(session: Session) -> None:
    make_couple(session)
    start(session, ANA_ID, "60")
    row = only_pause(session)
    press(session, BEN_ID, pz(row, "p120"), T0 + MIN)
    effects = fire(session, T0 + timedelta(hours=1))
    assert keys(effects) == ["pause.ready_question", "pause.ready_question"]
    # The proposal lapsed with the return time: accepting it now changes nothing.
    assert keys(press(session, ANA_ID, pz(row, "acc"), T0 + timedelta(hours=1, minutes=1))) == [
        "common.button_expired"
    ]
    assert row.return_at == T0 + timedelta(hours=1)


# ---- times in each partner's zone -----------------------------------------------------


def test_return_time_is_shown_in_each_partners_zone_when_they_differ(session: Session) -> None:
    _couple, _ana, ben = make_couple(session, zone="Europe/Berlin")
    ben.timezone = "America/New_York"
    session.add(ben)
    effects = start(session, ANA_ID, "60")
    body = shown(sends(effects)[0].body)
    assert "20:00 for Ana (Berlin), 14:00 for Ben (New York)" in body
    # Ben proposes; his buttons show his own clock.
    labels = [shown(b.label) for row in sends(effects)[0].buttons for b in row]
    assert labels == ["OK, that works", "Rather 13:30", "Rather 15:00", "Rather 17:00"]


def test_one_time_is_shown_when_both_live_in_the_same_zone(session: Session) -> None:
    make_couple(session, zone="Asia/Tokyo")
    body = shown(sends(start(session, ANA_ID, "60"))[0].body)
    assert "Back at 04:00." in body and " for Ben" not in body


def test_a_return_after_local_midnight_shows_the_date(session: Session) -> None:
    make_couple(session, zone="Asia/Kolkata")  # 23:30 when the pause starts
    body = shown(sends(start(session, ANA_ID, "60"))[0].body)
    assert "Back at Thu 26 Nov, 00:30." in body


def test_the_ready_question_uses_each_partners_own_clock(session: Session) -> None:
    _couple, ana, ben = make_couple(session, zone="Europe/Berlin")
    ben.timezone = "America/New_York"
    session.add(ben)
    agreed_pause(session)
    asked = {s.to: shown(s.body) for s in sends(fire(session, T0 + timedelta(hours=1)))}
    assert "It's 14:00" in asked[ToPartner(ben.id or 0)]
    assert "It's 20:00" in asked[ToPartner(ana.id or 0)]


# ---- history ---------------------------------------------------------------------------


def test_pauses_shows_when_who_agreed_return_and_how_each_ended(session: Session) -> None:
    make_couple(session)
    assert keys(run(session, flow.history(session, in_group(ANA_ID), "", T0), T0)) == [
        "pause.history_empty"
    ]
    row = agreed_pause(session)  # 1: both ready on time
    fire(session, T0 + timedelta(hours=1))
    press(session, ANA_ID, pz(row, "ready"), T0 + timedelta(hours=1), private=True)
    press(session, BEN_ID, pz(row, "ready"), T0 + timedelta(hours=1), private=True)
    day = timedelta(days=1)
    start(session, BEN_ID, "30", T0 + day)  # 2: nobody answered
    fire(session, T0 + day + timedelta(minutes=30))
    fire(session, T0 + day + timedelta(minutes=90))
    start(session, ANA_ID, "2h", T0 + 2 * day)  # 3: ended early with /back
    run(session, flow.back(session, in_group(BEN_ID), "", T0 + 2 * day + MIN), T0 + 2 * day)
    run(session, flow.back(session, in_group(ANA_ID), "", T0 + 2 * day + MIN), T0 + 2 * day)
    start(session, ANA_ID, "20", T0 + 3 * day)  # 4: still on
    text = all_text(
        run(session, flow.history(session, in_group(ANA_ID), "", T0 + 3 * day + MIN), T0)
    )
    lines = text.splitlines()[1:]
    assert lines == [
        "• Sat 28 Nov, 18:00: Ana asked, back at 18:20; still on",
        "• Fri 27 Nov, 18:00: Ana asked, back at 20:00; came back early",
        "• Thu 26 Nov, 18:00: Ben asked, back at 18:30; not returned",
        "• Wed 25 Nov, 18:00: Ana asked, back at 19:00; came back on time",
    ]
    for word in ("score", "fault", "%"):
        assert word not in text


def test_pauses_history_shows_both_zones_in_the_group(session: Session) -> None:
    _couple, _ana, ben = make_couple(session, zone="Europe/Berlin")
    ben.timezone = "America/New_York"
    session.add(ben)
    start(session, ANA_ID, "60")
    text = all_text(flow.history(session, in_group(BEN_ID), "", T0 + MIN))
    assert "Wed 25 Nov, 19:00 for Ana (Berlin), Wed 25 Nov, 13:00 for Ben (New York)" in text
    assert "back at 20:00 for Ana (Berlin), 14:00 for Ben (New York)" in text
    private = all_text(flow.history(session, in_private(BEN_ID), "", T0 + MIN))
    assert "• Wed 25 Nov, 13:00: Ana asked, back at 14:00; still on" in private


# ---- buttons that should do nothing ---------------------------------------------------


def test_stale_and_forged_pause_buttons_change_nothing(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    make_couple(session, group_id=-2002, names=("Cleo", "Dan"), user_ids=(404, 505))
    start(session, ANA_ID, "60")
    row = only_pause(session)
    before = (row.state, row.return_at, row.asker_ready, row.other_ready, row.extensions)
    attempts = [
        (STRANGER_ID, pz(row, "ok"), in_group(STRANGER_ID)),  # not a partner
        (404, pz(row, "ok"), in_group(404, group_id=-2002)),  # another couple's partner
        (BEN_ID, pz(row, "ok"), in_group(BEN_ID, group_id=-2002)),  # pressed in another chat
        (BEN_ID, pz(row, "ready"), in_group(BEN_ID)),  # not asked yet
        (BEN_ID, pz(row, "more"), in_group(BEN_ID)),  # not asked yet
        (BEN_ID, pz(row, "acc"), in_group(BEN_ID)),  # nothing proposed
        (BEN_ID, pz(row, "p45"), in_group(BEN_ID)),  # not one of the offered times
        (BEN_ID, pz(row, "pxx"), in_group(BEN_ID)),
        (BEN_ID, pz(row, "nuke"), in_group(BEN_ID)),
        (BEN_ID, buttons.data(flow.PAUSE, 9999, "ok"), in_group(BEN_ID)),  # no such pause
        (BEN_ID, buttons.data(flow.START, couple.id or 0, "7"), in_group(BEN_ID)),
        (BEN_ID, buttons.data(flow.START, 9999, "30"), in_group(BEN_ID)),
        (BEN_ID, f"v1|pz|{row.id}|ok|extra", in_group(BEN_ID)),
    ]
    for _user, data, actor in attempts:
        effects = run(session, buttons.handle_press(session, actor, data, T0 + MIN), T0 + MIN)
        assert keys(effects) in (
            ["common.button_expired"],
            ["pause.not_yours"],
            ["common.button_for_couple"],
        ), data
        assert (
            row.state,
            row.return_at,
            row.asker_ready,
            row.other_ready,
            row.extensions,
        ) == before
    assert len(session.exec(select(Pause)).all()) == 1
    assert [t.kind for t in pending(session)] == [flow.RETURN_KIND]


def test_agree_pressed_twice_counts_once(session: Session) -> None:
    make_couple(session)
    row = agreed_pause(session)
    assert keys(press(session, BEN_ID, pz(row, "ok"), T0 + 2 * MIN)) == ["common.button_expired"]
    assert row.agreed_at == T0 + MIN


# ---- surviving restarts and downtime --------------------------------------------------


def test_a_pause_set_before_a_restart_still_brings_its_return_message(engine: Engine) -> None:
    with Session(engine) as before_restart:
        make_couple(before_restart)
        start(before_restart, ANA_ID, "60")
        row = only_pause(before_restart)
        press(before_restart, BEN_ID, pz(row, "ok"), T0 + MIN)
        before_restart.commit()
    # A new process: nothing in memory, only the database.
    with Session(engine) as after_restart:
        effects = fire(after_restart, T0 + timedelta(hours=1, minutes=1))
        assert keys(effects) == ["pause.ready_question", "pause.ready_question"]
        after_restart.commit()


def test_a_return_missed_while_mend_was_down_long_is_closed_honestly(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    row = agreed_pause(session)
    effects = fire(session, T0 + timedelta(hours=20))
    assert keys(effects) == ["pause.closed_offline"]
    assert (row.state, row.outcome) == (flow.PauseState.ENDED, flow.Outcome.OFFLINE)
    assert not is_quiet(session, couple.id or 0, T0 + timedelta(hours=20))


def test_a_return_a_little_late_still_asks_with_an_honest_note(session: Session) -> None:
    make_couple(session)
    agreed_pause(session)
    fire(session, T0 + timedelta(hours=3))
    from bot.delivery.models import Outbox

    bodies = [row.body for row in session.exec(select(Outbox))]
    assert any("comes late" in body and "Ready to come back" in body for body in bodies)


def test_leaving_mend_closes_the_pause_and_the_quiet(session: Session) -> None:
    couple, ana, _ben = make_couple(session)
    row = agreed_pause(session)
    press(session, ANA_ID, buttons.data(onboarding.LEAVE, ana.id or 0, "yes"), T0 + 2 * MIN)
    assert (row.state, row.outcome) == (flow.PauseState.ENDED, flow.Outcome.CLOSED)
    assert not is_quiet(session, couple.id or 0, T0 + 3 * MIN)


def test_settings_mention_a_break_that_is_on(session: Session) -> None:
    make_couple(session)
    start(session, ANA_ID, "60")
    text = all_text(onboarding.show_settings(session, in_group(BEN_ID), "", T0 + MIN))
    assert "A break is on until 19:00" in text


# ---- a return timer that no longer matches the pause ----------------------------------------


def test_a_return_timer_for_an_old_return_time_does_nothing(session: Session) -> None:
    """A return time that moved leaves its old timer behind when that timer was already in
    flight (claimed by another process, or handled after a restart): it must not ask early,
    nor, handled far too late, close the break as "Mend was offline"."""
    couple, _ana, _ben = make_couple(session)
    row = agreed_pause(session)
    stale_at = T0 + timedelta(minutes=30)
    run(session, [SetTimer(flow.RETURN_KIND, couple.id or 0, stale_at, {"pause_id": row.id})], T0)
    stale = session.exec(select(Timer).where(Timer.due_at == stale_at)).one()
    for now in (stale_at, stale_at + timedelta(hours=13)):
        effects, _state, _late = handle_due(session, stale, now)
        assert effects == []
        assert row.state == flow.PauseState.AGREED and row.outcome is None
    # The timer of the return time in force does ask.
    assert "pause.ready_question" in keys(fire(session, row.return_at))
