"""Others in the group: Mend says so at /start, and private things go to private chats."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from bot.delivery.models import Outbox
from bot.delivery.outbox import persist
from flows import buttons, checkin, members
from flows.checkin import Checkin
from flows.inputs import Said, handle_text
from flows.models import Couple, Partner
from flows.outcome import Effects, ToGroup, ToPartner
from flows.repair import Repair, start_repair
from tests.flows.checkin.test_checkin import fire
from tests.helpers import (
    ANA_ID,
    BEN_ID,
    GROUP_ID,
    T0,
    all_text,
    in_group,
    in_private,
    keys,
    make_couple,
    sends,
)

ANA_SAYS = ("ana cares", "ana harder", "ana close", "ana differently")
BEN_SAYS = ("ben cares", "ben harder", "ben close", "ben differently")
# Ana, Ben and Mend; with Cleo (turned away as a third partner) four.
JUST_US, WITH_CLEO = 3, 4


def run(session: Session, effects: Effects) -> Effects:
    persist(session, effects, T0, claim=False)
    session.flush()
    return effects


def group_texts(session: Session) -> str:
    return "\n".join(
        row.body for row in session.exec(select(Outbox).where(Outbox.chat_id == GROUP_ID))
    )


def both_answer(session: Session) -> Effects:
    run(session, checkin.checkin(session, in_group(ANA_ID, "Ana"), "now", T0))
    effects: Effects = []
    for ana_says, ben_says in zip(ANA_SAYS, BEN_SAYS, strict=True):
        run(session, handle_text(session, in_private(ANA_ID), Said(ana_says), T0))
        effects = run(session, handle_text(session, in_private(BEN_ID), Said(ben_says), T0))
    return effects


def test_start_says_so_when_anyone_besides_the_couple_is_in_the_group(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    alone = members.start(session, in_group(ANA_ID, "Ana"), "", "UTC", T0, JUST_US)
    assert "members.others_at_start" not in keys(alone)
    assert couple.member_count == JUST_US and not couple.others_present
    crowded = members.start(session, in_group(ANA_ID, "Ana"), "", "UTC", T0, WITH_CLEO)
    assert keys(crowded)[-1] == "members.others_at_start"
    assert couple.member_count == WITH_CLEO and couple.others_present
    # Before anyone has joined, the count is stored too (the group is new to Mend).
    fresh = members.start(session, in_group(ANA_ID, "Ana", group_id=-5), "", "UTC", T0, 5)
    assert "members.others_at_start" in keys(fresh)
    stored = session.exec(select(Couple).where(Couple.group_chat_id == -5)).one()
    assert stored.member_count == 5


def test_a_member_joining_or_leaving_refreshes_the_count_and_tells_the_couple_once(
    session: Session,
) -> None:
    couple, _ana, _ben = make_couple(session)
    assert run(session, members.record_members(session, GROUP_ID, JUST_US, T0)) == []
    joined = members.record_members(session, GROUP_ID, WITH_CLEO, T0)
    assert keys(joined) == ["members.others_joined"]
    assert sends(joined)[0].to == ToGroup(couple.id or 0)
    assert members.record_members(session, GROUP_ID, WITH_CLEO + 1, T0) == []
    assert members.record_members(session, GROUP_ID, JUST_US, T0) == []
    assert not couple.others_present
    assert members.record_members(session, GROUP_ID, None, T0) == []  # Telegram could not say
    assert couple.member_count == JUST_US


def test_with_others_present_the_reveal_goes_to_both_private_chats_not_the_group(
    session: Session,
) -> None:
    couple, ana, ben = make_couple(session)
    couple.member_count = WITH_CLEO
    effects = both_answer(session)
    reveals = [send for send in sends(effects) if send.body.key == "checkin.reveal"]
    assert sorted(str(send.to) for send in reveals) == sorted(
        [str(ToPartner(ana.id or 0)), str(ToPartner(ben.id or 0))]
    )
    assert all(said in all_text(reveals) for said in ANA_SAYS + BEN_SAYS)
    group = group_texts(session)
    assert not any(said in group for said in ANA_SAYS + BEN_SAYS)
    assert "sent them to your private chats" in group
    assert session.exec(select(Checkin)).one().state == checkin.CheckinState.DONE


def test_without_others_the_reveal_is_posted_in_the_group_as_before(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    couple.member_count = JUST_US
    both_answer(session)
    assert all(said in group_texts(session) for said in ANA_SAYS + BEN_SAYS)


def test_with_others_present_private_answers_reach_the_group_only_when_their_author_says_so(
    session: Session,
) -> None:
    couple, ana, ben = make_couple(session)
    couple.member_count = WITH_CLEO
    ben.private_open = False  # Ben answers by replying in the group
    session.add(ben)
    run(session, checkin.checkin(session, in_group(ANA_ID, "Ana"), "now", T0))
    for said in ANA_SAYS:
        run(session, handle_text(session, in_private(ANA_ID), Said(said), T0))
    for number, said in enumerate(BEN_SAYS, start=1):
        tag = f"checkin:{session.exec(select(Checkin)).one().id}:{ben.id}:{number}"
        effects = run(session, handle_text(session, in_group(BEN_ID), Said(said, tag), T0))
    (to_ana,) = [send for send in sends(effects) if send.body.key == "checkin.reveal"]
    assert to_ana.to == ToPartner(ana.id or 0)
    assert not any(said in group_texts(session) for said in ANA_SAYS)
    post = buttons.data(checkin.KIND_SHARE, session.exec(select(Checkin)).one().id or 0, "post")
    later = T0 + timedelta(minutes=5)
    assert keys(buttons.handle_press(session, in_group(BEN_ID), post, later)) == [
        "common.button_expired"
    ]
    posted = run(session, buttons.handle_press(session, in_private(ANA_ID), post, later))
    assert [send.to for send in sends(posted)] == [ToGroup(couple.id or 0)]
    assert all(said in group_texts(session) for said in ANA_SAYS)


def test_with_others_present_a_one_sided_share_goes_privately(session: Session) -> None:
    couple, ana, ben = make_couple(session)
    couple.member_count = WITH_CLEO
    run(session, checkin.checkin(session, in_group(ANA_ID, "Ana"), "now", T0))
    for said in ANA_SAYS:
        run(session, handle_text(session, in_private(ANA_ID), Said(said), T0))
    row = session.exec(select(Checkin)).one()
    fire(session, checkin.CLOSE_KIND, T0 + timedelta(hours=48))
    share = buttons.data(checkin.KIND_SHARE, row.id or 0, "share")
    shared = run(
        session, buttons.handle_press(session, in_private(ANA_ID), share, T0 + timedelta(hours=49))
    )
    reveals = [send for send in sends(shared) if send.body.key == "checkin.reveal"]
    assert {str(send.to) for send in reveals} == {
        str(ToPartner(ana.id or 0)),
        str(ToPartner(ben.id or 0)),
    }
    assert not any(said in group_texts(session) for said in ANA_SAYS)


def _repair_ready(session: Session) -> Effects:
    start_repair(session, in_private(ANA_ID, "Ana"), "", T0)
    ana = session.exec(select(Partner).where(Partner.user_id == ANA_ID)).one()
    buttons.handle_press(
        session, in_private(ANA_ID), buttons.data("rpc", ana.id or 0, "apology"), T0
    )
    for words in ("I snapped at you.", "You felt pushed away.", "I'll ask for a break.", "ok"):
        handle_text(session, in_private(ANA_ID), Said(words), T0)
    repair = session.exec(select(Repair)).one()
    return list(
        buttons.handle_press(
            session, in_private(ANA_ID), buttons.data("rp", repair.id or 0, "post"), T0
        )
    )


def test_with_others_present_a_repair_goes_to_the_partner_privately(session: Session) -> None:
    couple, _ana, ben = make_couple(session)
    couple.member_count = WITH_CLEO
    posted = _repair_ready(session)
    (message,) = [send for send in sends(posted) if send.body.key == "repair.posted_group"]
    assert message.to == ToPartner(ben.id or 0)
    assert "private chat" in all_text([e for e in posted if not hasattr(e, "to")])


def test_with_others_present_a_repair_waits_for_the_partners_private_chat(session: Session) -> None:
    couple, _ana, ben = make_couple(session)
    couple.member_count = WITH_CLEO
    ben.private_open = False
    session.add(ben)
    posted = _repair_ready(session)
    assert keys(posted) == ["repair.others_present_wait"]
    assert session.exec(select(Repair)).one().state == "review"
