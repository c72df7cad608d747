"""What /settings, /timezone, /mytimezone, /checkins and /promises say, read in full.

Other tests look for one name or one key in these replies; here every value a partner reads
is checked (each zone, each date in the reader's own zone, each count), so a value that goes
missing, or comes from the wrong partner or the wrong zone, fails.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from flows import checkin, onboarding, promises
from flows.checkin import Checkin
from flows.promises import Promise, PromiseCheck
from flows.thanks import Thanks
from tests.helpers import (
    ANA_ID,
    BEN_ID,
    T0,
    all_text,
    button_data,
    in_group,
    in_private,
    make_couple,
    sends,
    shown,
)


def test_settings_name_each_partners_own_zone_and_private_chat(session: Session) -> None:
    _couple, _ana, ben = make_couple(session, zone="Europe/Berlin")
    ben.private_open, ben.timezone = False, "America/New_York"
    (reply,) = sends(onboarding.show_settings(session, in_group(ANA_ID), "", T0))
    assert shown(reply.body) == (
        'Settings for "Ana & Ben":\n'
        "• Couple's time zone: Europe/Berlin\n"
        "• Ana: times in Berlin; private chat open\n"
        "• Ben: times in New York; private chat not opened yet\n"
        "• Weekly check-in: Sundays at 19:00 (Berlin)\n"
        "• Promises going for Ana: 0\n"
        "• Promises going for Ben: 0"
    )
    assert shown(reply.body, "de").splitlines()[2:4] == [
        "• Ana: Zeiten in Berlin; privater Chat offen",
        "• Ben: Zeiten in New York; privater Chat noch nicht geöffnet",
    ]


def test_mytimezone_says_the_zone_set_and_the_couples_zone_once_cleared(
    session: Session,
) -> None:
    _couple, _ana, ben = make_couple(session, zone="Europe/Berlin")
    set_reply = onboarding.set_my_timezone(session, in_private(BEN_ID), "Asia/Tokyo", T0)
    assert all_text(set_reply) == "Got it, Ben: times I show you will be in Asia/Tokyo."
    assert ben.timezone == "Asia/Tokyo"
    (asked,) = sends(onboarding.set_my_timezone(session, in_group(BEN_ID), "", T0))
    # T0 is 18:00 UTC: 03:00 the next morning in Tokyo.
    assert shown(asked.body) == (
        "Ben, your times are in Tokyo (it's 03:00 there). Which city are you in? Reply to "
        'this message with its name, like Tokyo, or "off" to use the couple\'s zone.'
    )
    assert asked.force_reply and asked.tag == f"myzone:{ben.id}"
    cleared = onboarding.set_my_timezone(session, in_group(BEN_ID), "off", T0)
    assert all_text(cleared) == "Done. You'll see times in the couple's zone, Europe/Berlin."
    assert ben.timezone is None


def test_bare_timezone_says_the_couples_zone_and_its_time_now(session: Session) -> None:
    make_couple(session, zone="America/New_York")
    (asked,) = sends(onboarding.set_timezone(session, in_group(BEN_ID), "", T0))
    assert shown(asked.body) == (
        "You're on New York time now (it's 13:00 there). Which city are you in? Reply to this "
        "message with its name, like Lisbon or New York."
    )


def _four_weeks_of_checkins(session: Session) -> None:
    couple, ana, _ben = make_couple(session)
    ana.timezone = "Asia/Tokyo"
    sunday = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)
    for weeks_ago, state in [(3, "done"), (2, "skipped"), (1, "held"), (0, "done")]:
        at = sunday - timedelta(days=7 * weeks_ago)
        session.add(
            Checkin(
                couple_id=couple.id or 0, planned_at=at, started_at=at, state=state, closed_at=at
            )
        )
    sent = T0 - timedelta(days=3)
    session.add(
        Thanks(
            couple_id=couple.id or 0,
            partner_id=ana.id or 0,
            what="for the tea",
            state="sent",
            created_at=sent,
            sent_at=sent,
        )
    )
    session.flush()


def test_checkins_list_each_week_its_outcome_the_streak_and_the_thanks(
    session: Session,
) -> None:
    _four_weeks_of_checkins(session)
    # Last week done, the two before not (held, then skipped): two missed weeks in a row end
    # the streak there. This week has no check-in yet, which does not count against it.
    assert all_text(checkin.history(session, in_group(BEN_ID), "", T0)) == (
        "Your recent check-ins:\n"
        "• Sun 22 Nov: done\n"
        "• Sun 15 Nov: partly (closed before both answered)\n"
        "• Sun 8 Nov: skipped\n"
        "• Sun 1 Nov: done\n"
        "\n"
        "Streak: 1 week done. One missed week doesn't break it.\n"
        "Thanks shared in the last four weeks: 1."
    )


def test_checkins_in_private_are_dated_in_the_readers_own_zone(session: Session) -> None:
    _four_weeks_of_checkins(session)
    # Sunday 19:00 UTC is Monday 04:00 in Tokyo, where Ana lives.
    mine = all_text(checkin.history(session, in_private(ANA_ID), "", T0)).splitlines()
    assert mine[1:5] == [
        "• Mon 23 Nov: done",
        "• Mon 16 Nov: partly (closed before both answered)",
        "• Mon 9 Nov: skipped",
        "• Mon 2 Nov: done",
    ]
    # In the group the couple's zone holds, whoever asks.
    group = all_text(checkin.history(session, in_group(ANA_ID), "", T0)).splitlines()
    assert group[1] == "• Sun 22 Nov: done"


def test_promises_list_each_promise_with_its_own_zone_and_follow_through(
    session: Session,
) -> None:
    couple, ana, ben = make_couple(session)
    ana.timezone = "Asia/Tokyo"
    daily = Promise(
        couple_id=couple.id or 0,
        partner_id=ana.id or 0,
        number=1,
        what="phone away at dinner",
        state="active",
        repeat="daily",
        remind_at="18:30",
        created_at=T0 - timedelta(days=10),
    )
    weekly = Promise(
        couple_id=couple.id or 0,
        partner_id=ben.id or 0,
        number=1,
        what="call mum",
        state="active",
        repeat="weekly",
        weekday=4,
        remind_at="10:00",
        created_at=T0 - timedelta(days=10),
    )
    session.add_all([daily, weekly])
    session.flush()
    # T0 is a Wednesday: this week holds Monday and Tuesday; the unanswered one nine days ago
    # counts as asked and not kept.
    for days_ago, outcome in [(1, "kept"), (2, "not"), (3, "kept"), (8, "kept"), (9, None)]:
        session.add(
            PromiseCheck(
                promise_id=daily.id or 0,
                couple_id=couple.id or 0,
                day=T0.date() - timedelta(days=days_ago),
                asked_at=T0 - timedelta(days=days_ago),
                outcome=outcome,
                answered_at=T0 - timedelta(days=days_ago) if outcome else None,
            )
        )
    session.flush()
    (listed,) = sends(promises.list_promises(session, in_group(BEN_ID), "", T0))
    assert shown(listed.body) == (
        "Promises going:\n"
        "#1 Ana: “phone away at dinner”, every day, nudge at 18:30 (Tokyo)\n"
        "This week: kept 1 of 2. Last 4 weeks: 3 of 5.\n"
        "#1 Ben: “call mum”, every Friday, nudge at 10:00 (UTC)\n"
        "Not asked about yet.\n"
        "\n"
        "Tap a button to change one; /drop and its number ends one."
    )
    assert button_data(listed) == [
        f"v1|{promises.CHANGE}|{daily.id}|menu",
        f"v1|{promises.CHANGE}|{weekly.id}|menu",
    ]
