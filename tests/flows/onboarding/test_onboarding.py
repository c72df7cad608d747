"""Onboarding rules: two people form a couple, a third is refused, zones are checked."""

from __future__ import annotations

from sqlmodel import Session, select

from flows import buttons, onboarding
from flows.couples import partners_of
from flows.models import Couple, Partner
from flows.outcome import ToGroup
from tests.helpers import (
    ANA_ID,
    BEN_ID,
    GROUP_ID,
    STRANGER_ID,
    T0,
    all_text,
    button_data,
    in_group,
    in_private,
    keys,
    make_couple,
    notices,
    sends,
)


def _join(session: Session, user_id: int, couple_id: int, name: str) -> list[object]:
    data = buttons.data(onboarding.JOIN, couple_id, "in")
    return list(buttons.handle_press(session, in_group(user_id, name), data, T0))


def _started(session: Session) -> Couple:
    effects = onboarding.start(session, in_group(ANA_ID, "Ana"), "", "Europe/Berlin", T0)
    assert keys(effects) == ["onboarding.intro"]
    couple = session.exec(select(Couple)).one()
    assert button_data(sends(effects)[0]) == [buttons.data("join", couple.id or 0, "in")]
    return couple


def test_start_in_group_says_the_bot_sees_only_commands(session: Session) -> None:
    effects = onboarding.start(session, in_group(ANA_ID, "Ana"), "", "UTC", T0)
    assert "never your conversation" in all_text(effects)


def test_first_two_people_who_tap_im_in_form_the_couple(session: Session) -> None:
    couple = _started(session)
    first = _join(session, ANA_ID, couple.id or 0, "Ana")
    assert couple.formed_at is None
    assert "onboarding.joined_first" in keys(first)  # type: ignore[arg-type]
    second = _join(session, BEN_ID, couple.id or 0, "Ben")
    assert couple.formed_at == T0
    formed = [s for s in sends(second) if s.body.key == "onboarding.formed"]  # type: ignore[arg-type]
    assert formed and formed[0].to == ToGroup(couple.id or 0)
    assert formed[0].buttons[0][0].url == onboarding.deep_link(couple.id or 0)
    assert [p.first_name for p in partners_of(session, couple.id or 0)] == ["Ana", "Ben"]


def test_a_third_person_is_refused_and_nothing_changes(session: Session) -> None:
    couple = _started(session)
    _join(session, ANA_ID, couple.id or 0, "Ana")
    _join(session, BEN_ID, couple.id or 0, "Ben")
    third = _join(session, STRANGER_ID, couple.id or 0, "Cleo")
    assert [n.body.key for n in notices(third)] == ["onboarding.couple_full"]  # type: ignore[arg-type]
    assert len(partners_of(session, couple.id or 0)) == 2


def test_tapping_twice_does_not_count_twice(session: Session) -> None:
    couple = _started(session)
    _join(session, ANA_ID, couple.id or 0, "Ana")
    again = _join(session, ANA_ID, couple.id or 0, "Ana")
    assert keys(again) == ["onboarding.already_in"]  # type: ignore[arg-type]
    assert couple.formed_at is None


def test_a_forged_join_button_from_another_group_is_refused(session: Session) -> None:
    couple = _started(session)
    other_group = in_group(STRANGER_ID, "Cleo", group_id=-999)
    effects = buttons.handle_press(
        session, other_group, buttons.data("join", couple.id or 0, "in"), T0
    )
    assert keys(effects) == ["common.button_expired"]
    assert partners_of(session, couple.id or 0) == []


def test_garbage_callback_data_is_answered_and_changes_nothing(session: Session) -> None:
    for raw in ["", "x", "v0|join|1|in", "v1|nope|1|in", "v1|join|abc|in", "v1|join|1|" + "x" * 80]:
        assert keys(buttons.handle_press(session, in_group(ANA_ID), raw, T0)) == [
            "common.button_expired"
        ]


def test_private_start_with_deep_link_opens_the_private_chat(session: Session) -> None:
    couple, ana, _ben = make_couple(session, private_open=False)
    effects = onboarding.start(session, in_private(ANA_ID, "Ana"), f"c{couple.id}", "UTC", T0)
    assert keys(effects) == ["onboarding.private_linked"]
    assert ana.private_open


def test_private_start_from_a_stranger_explains_how_to_begin(session: Session) -> None:
    effects = onboarding.start(session, in_private(STRANGER_ID), "", "UTC", T0)
    assert keys(effects) == ["onboarding.private_stranger"]


def test_timezone_accepts_iana_names_and_cities(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    onboarding.set_timezone(session, in_group(ANA_ID), "Europe/Berlin", T0)
    assert couple.timezone == "Europe/Berlin"
    onboarding.set_timezone(session, in_group(BEN_ID), "new york", T0)
    assert couple.timezone == "America/New_York"


def test_unknown_timezone_gets_an_example_and_changes_nothing(session: Session) -> None:
    couple, _ana, _ben = make_couple(session, zone="Europe/Lisbon")
    for nonsense in ["Mars/Olympus", "banana", "'; drop table couple; --", "x" * 300]:
        effects = onboarding.set_timezone(session, in_group(ANA_ID), nonsense, T0)
        assert keys(effects) == ["onboarding.timezone_unknown"]
        assert "/timezone Berlin" in all_text(effects)
    assert couple.timezone == "Europe/Lisbon"


def test_only_partners_can_change_the_couples_settings(session: Session) -> None:
    couple, _ana, _ben = make_couple(session, zone="UTC")
    effects = onboarding.set_timezone(session, in_group(STRANGER_ID), "Europe/Berlin", T0)
    assert keys(effects) == ["common.only_partners"]
    assert couple.timezone == "UTC"


def test_mytimezone_overrides_for_one_partner_only(session: Session) -> None:
    _couple, ana, ben = make_couple(session)
    onboarding.set_my_timezone(session, in_group(BEN_ID), "Asia/Tokyo", T0)
    assert ben.timezone == "Asia/Tokyo" and ana.timezone is None
    onboarding.set_my_timezone(session, in_group(BEN_ID), "off", T0)
    assert ben.timezone is None


def test_settings_show_zones_and_private_chat_state(session: Session) -> None:
    make_couple(session, zone="Europe/Berlin")
    shown_text = all_text(onboarding.show_settings(session, in_group(ANA_ID), "", T0))
    assert "Europe/Berlin" in shown_text and "Ana" in shown_text and "Ben" in shown_text


def test_help_differs_between_group_and_private(session: Session) -> None:
    group = all_text(onboarding.show_help(session, in_group(ANA_ID), "", T0))
    private = all_text(onboarding.show_help(session, in_private(ANA_ID), "", T0))
    assert group != private and "/safety" in private


def test_supergroup_migration_keeps_the_couple(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    onboarding.migrate_chat(session, GROUP_ID, -100777)
    assert couple.group_chat_id == -100777
    moved = onboarding.show_settings(session, in_group(ANA_ID, group_id=-100777), "", T0)
    assert keys(moved) == ["onboarding.settings"]
    assert 'Settings for "Ana & Ben"' in all_text(moved) and "Ben: times in UTC" in all_text(moved)
    # The old id no longer names a couple.
    old = onboarding.show_settings(session, in_group(ANA_ID), "", T0)
    assert keys(old) == ["common.no_couple_group"]


def test_leave_dissolves_the_couple_after_confirmation(session: Session) -> None:
    couple, ana, _ben = make_couple(session)
    asked = onboarding.leave(session, in_group(ANA_ID), "", T0)
    assert keys(asked) == ["onboarding.leave_confirm"]
    assert len(partners_of(session, couple.id or 0)) == 2
    done = buttons.handle_press(
        session, in_group(ANA_ID), buttons.data("leave", ana.id or 0, "yes"), T0
    )
    assert "onboarding.left_group" in keys(done)
    assert [p.user_id for p in session.exec(select(Partner))] == [BEN_ID]
    assert couple.formed_at is None


def test_someone_else_cannot_press_a_partners_leave_button(session: Session) -> None:
    couple, ana, _ben = make_couple(session)
    effects = buttons.handle_press(
        session, in_group(BEN_ID), buttons.data("leave", ana.id or 0, "yes"), T0
    )
    assert keys(effects) == ["common.button_expired"]
    assert len(partners_of(session, couple.id or 0)) == 2
