"""Each person in their own language, the group in the couple's; /language changes them."""

from __future__ import annotations

from dataclasses import replace
from datetime import time, timedelta

from sqlmodel import Session, col, select

from bot.delivery.models import Outbox
from bot.delivery.outbox import persist
from bot.texts import render
from flows import buttons, language, onboarding
from flows.couples import shown_clock, shown_when
from flows.models import Couple, Partner
from flows.outcome import Effects, Send, ToChat, ToGroup, ToPartner, text
from tests.helpers import (
    ANA_ID,
    BEN_ID,
    GROUP_ID,
    STRANGER_ID,
    T0,
    button_data,
    edits,
    in_group,
    in_private,
    keys,
    make_couple,
    notices,
    sends,
)


def written(session: Session, effects: Effects) -> list[Outbox]:
    """The outbox rows the runtime would send, rendered in each reader's language."""
    persist(session, effects, T0, claim=False)
    return list(session.exec(select(Outbox).order_by(col(Outbox.id))))


def german(actor_language: str = "de") -> tuple:
    return (
        replace(in_group(ANA_ID, "Ana"), language=actor_language),
        replace(in_group(BEN_ID, "Ben"), language="en"),
    )


def test_the_first_partner_sets_the_groups_language_and_each_keeps_their_own(
    session: Session,
) -> None:
    ana, ben = german()
    started = onboarding.start(session, ana, "", "UTC", T0)
    couple = session.exec(select(Couple)).one()
    assert couple.language == "de"  # who sent /start, until a partner joins
    join = button_data(sends(started)[0])[0]
    buttons.handle_press(session, ben, join, T0)
    buttons.handle_press(session, ana, join, T0)
    by_name = {p.first_name: p.language for p in session.exec(select(Partner))}
    assert by_name == {"Ben": "en", "Ana": "de"}
    assert couple.language == "en"  # Ben joined first


def test_a_stranger_is_answered_in_their_own_language(session: Session) -> None:
    stranger = replace(in_private(STRANGER_ID), language="de_AT")
    effects = onboarding.start(session, stranger, "", "UTC", T0)
    (row,) = written(session, effects)
    assert row.body.startswith("Hallo, ich bin Mend")


def test_every_message_is_rendered_in_its_readers_language(session: Session) -> None:
    couple, ana, ben = make_couple(session)
    ana.language, couple.language = "de", "de"
    session.add_all([ana, couple])
    effects: Effects = [
        Send(ToPartner(ana.id or 0), text("pause.ready_notice")),
        Send(ToPartner(ben.id or 0), text("pause.ready_notice")),
        Send(ToGroup(couple.id or 0), text("pause.ready_done")),
        Send(ToChat(ANA_ID), text("pause.more_notice")),
        Send(ToChat(BEN_ID), text("pause.more_notice")),
    ]
    bodies = [row.body for row in written(session, effects)]
    assert bodies == [
        "Danke.",
        "Thank you.",
        "Ihr seid beide bereit.",
        "Noch 20 Minuten.",
        "20 more minutes.",
    ]


def test_language_in_private_offers_each_shipped_language_and_a_tap_sets_it(
    session: Session,
) -> None:
    _couple, ana, _ben = make_couple(session)
    offered = language.choose(session, in_private(ANA_ID), "", T0)
    assert keys(offered) == ["language.choose"]
    choices = button_data(sends(offered)[0])
    assert [choice.rsplit("|", 1)[1] for choice in choices] == ["en", "de"]
    tapped = buttons.handle_press(session, in_private(ANA_ID), choices[1], T0)
    assert [edit.body.key for edit in edits(tapped) if edit.body] == ["language.set"]
    assert ana.language == "de"


def test_language_named_in_the_group_sets_the_couples_and_says_so_in_it(session: Session) -> None:
    couple, ana, _ben = make_couple(session)
    effects = language.choose(session, in_group(BEN_ID), "Deutsch", T0)
    assert couple.language == "de" and ana.language == "en"
    (row,) = written(session, effects)
    assert row.chat_id == GROUP_ID and row.body.startswith("Alles klar")


def test_only_partners_change_the_groups_language_and_bad_buttons_change_nothing(
    session: Session,
) -> None:
    couple, _ana, _ben = make_couple(session)
    offered = language.choose(session, in_group(ANA_ID), "", T0)
    german_button = button_data(sends(offered)[0])[1]
    stranger = buttons.handle_press(session, in_group(STRANGER_ID), german_button, T0)
    assert [n.body.key for n in notices(stranger)] == ["common.button_for_couple"]
    forged = buttons.data(language.KIND, couple.id or 0, "xx")
    assert keys(buttons.handle_press(session, in_group(ANA_ID), forged, T0)) == [
        "common.button_expired"
    ]
    assert couple.language == "en"


def test_an_unknown_language_name_gets_the_buttons_and_changes_nothing(session: Session) -> None:
    _couple, ana, _ben = make_couple(session)
    effects = language.choose(session, in_private(ANA_ID), "Klingon", T0)
    assert keys(effects) == ["language.choose"] and ana.language == "en"


def test_one_wording_for_a_time_in_each_zone_whatever_the_feature(session: Session) -> None:
    couple, ana, ben = make_couple(session, zone="Europe/Berlin")
    ben.timezone = "America/New_York"
    session.add(ben)
    moment = T0 + timedelta(hours=1)  # 20:00 in Berlin, 14:00 in New York
    both = shown_when(session, couple, moment, since=T0)
    assert render(both) == "20:00 for Ana (Berlin), 14:00 for Ben (New York)"
    assert render(both, "de") == "20:00 für Ana (Berlin), 14:00 für Ben (New York)"
    assert render(shown_when(session, couple, moment, reader=ana)) == "Wed 25 Nov, 20:00"
    assert (
        render(shown_when(session, couple, moment, reader=ana, zone_named=True), "de")
        == "Mi., 25. Nov. um 20:00 (Berlin)"
    )
    assert render(shown_clock(session, couple, ben, time(9, 0))) == "09:00 (New York)"
