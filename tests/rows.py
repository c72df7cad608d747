"""A couple with a row of every kind the product keeps, each live (its buttons still work).

Shared by the /forget test (every table must be empty afterwards) and the stranger test
(every live button, pressed by someone outside the couple, changes nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session

from bot.delivery.outbox import persist
from flows import checkin as checkin_flow
from flows import onboarding
from flows import pause as pause_flow
from flows.checkin import Checkin, CheckinAnswer, CheckinSchedule, CheckinTurn
from flows.choosing import CoupleChoice
from flows.hurt import HurtNote
from flows.models import Couple, Partner
from flows.outcome import Send, SetTimer, Text, ToGroup, ToPartner
from flows.pause import Pause
from flows.promises import Promise, PromiseCheck
from flows.repair import Repair
from flows.restart import SoftRestart
from flows.thanks import Thanks
from tests.helpers import T0


@dataclass
class Everything:
    couple: Couple
    ana: Partner
    ben: Partner
    pause: Pause
    open_checkin: Checkin
    shared_checkin: Checkin
    held_checkin: Checkin
    differently_answer: CheckinAnswer
    draft_promise: Promise
    promise: Promise
    asked_check: PromiseCheck
    kept_check: PromiseCheck
    repair: Repair
    hurt_note: HurtNote
    ended_pause: Pause
    thanks: Thanks
    couple_choice: CoupleChoice


def fill_everything(session: Session, couple: Couple, ana: Partner, ben: Partner) -> Everything:
    """Rows in every table for this couple: a running pause and one that ended (both back, no
    soft restart yet), check-ins (open, revealed and held back) with turns and answers,
    promises with checks, a repair being written, a note of what hurt being written, a soft
    restart, a note of thanks waiting for "where?", Ana's private command waiting for "which
    couple?", the check-in schedule, timers and outbox rows."""
    cid = couple.id or 0
    pause = Pause(
        couple_id=cid,
        active_couple_id=cid,
        asked_by=ana.id or 0,
        other_id=ben.id or 0,
        started_at=T0,
        agreed_return_at=T0 + timedelta(hours=1),
        return_at=T0 + timedelta(hours=1),
    )
    session.add(CheckinSchedule(couple_id=cid, updated_at=T0))
    open_checkin = Checkin(couple_id=cid, planned_at=T0, started_at=T0)
    shared_checkin = Checkin(
        couple_id=cid,
        planned_at=T0 - timedelta(days=7),
        started_at=T0 - timedelta(days=7),
        state=checkin_flow.CheckinState.DONE,
        closed_at=T0 - timedelta(days=6),
    )
    held_checkin = Checkin(
        couple_id=cid,
        planned_at=T0 - timedelta(days=14),
        started_at=T0 - timedelta(days=14),
        state=checkin_flow.CheckinState.HELD,
        closed_at=T0 - timedelta(days=12),
    )
    draft_promise = Promise(
        couple_id=cid, partner_id=ben.id or 0, what="plan a walk", created_at=T0
    )
    promise = Promise(
        couple_id=cid,
        partner_id=ana.id or 0,
        number=1,
        what="phone away",
        state="active",
        repeat="daily",
        created_at=T0 - timedelta(days=3),
    )
    repair = Repair(
        couple_id=cid,
        partner_id=ana.id or 0,
        private=True,
        ownership="I raised my voice",
        started_at=T0,
        updated_at=T0,
    )
    ended_pause = Pause(
        couple_id=cid,
        asked_by=ben.id or 0,
        other_id=ana.id or 0,
        started_at=T0 - timedelta(days=2),
        agreed_return_at=T0 - timedelta(days=2) + timedelta(hours=1),
        return_at=T0 - timedelta(days=2) + timedelta(hours=1),
        agreed_at=T0 - timedelta(days=2),
        state=pause_flow.PauseState.ENDED,
        asker_ready=True,
        other_ready=True,
        ended_at=T0 - timedelta(days=2) + timedelta(hours=1),
        outcome=pause_flow.Outcome.ON_TIME,
    )
    session.add_all(
        [
            pause,
            ended_pause,
            open_checkin,
            shared_checkin,
            held_checkin,
            draft_promise,
            promise,
            repair,
        ]
    )
    session.flush()
    for row in (open_checkin, shared_checkin, held_checkin):
        for partner in (ana, ben):
            session.add(
                CheckinTurn(
                    checkin_id=row.id or 0,
                    partner_id=partner.id or 0,
                    asking=1,
                    asked_at=row.started_at,
                )
            )
    answers = [
        CheckinAnswer(
            checkin_id=open_checkin.id or 0,
            partner_id=ana.id or 0,
            question=checkin_flow.CARE,
            answer="the dishes",
            answered_at=T0,
        ),
        CheckinAnswer(
            checkin_id=held_checkin.id or 0,
            partner_id=ana.id or 0,
            question=checkin_flow.CARE,
            answer="held back",
            answered_at=held_checkin.started_at,
        ),
    ]
    differently = CheckinAnswer(
        checkin_id=shared_checkin.id or 0,
        partner_id=ana.id or 0,
        question=checkin_flow.DIFFERENTLY,
        answer="listen first",
        answered_at=shared_checkin.started_at,
    )
    session.add_all([*answers, differently])
    asked = PromiseCheck(promise_id=promise.id or 0, couple_id=cid, day=T0.date(), asked_at=T0)
    kept = PromiseCheck(
        promise_id=promise.id or 0,
        couple_id=cid,
        day=T0.date() - timedelta(days=1),
        asked_at=T0 - timedelta(days=1),
        outcome="kept",
        answered_at=T0 - timedelta(days=1),
    )
    session.add_all([asked, kept])
    hurt_note = HurtNote(
        couple_id=cid,
        partner_id=ben.id or 0,
        happened="You left mid-sentence.",
        meant="That I don't matter.",
        started_at=T0,
        updated_at=T0,
    )
    thanks = Thanks(couple_id=cid, partner_id=ana.id or 0, what="for the tea", created_at=T0)
    couple_choice = CoupleChoice(user_id=ana.user_id, command="settings", args="", created_at=T0)
    session.add_all(
        [
            hurt_note,
            thanks,
            couple_choice,
            SoftRestart(
                couple_id=cid,
                pause_id=pause.id or 0,
                partner_id=ana.id or 0,
                feeling="tired",
                need="a hug",
                created_at=T0,
            ),
        ]
    )
    session.flush()
    persist(
        session,
        [
            SetTimer(onboarding.INVITE_REMINDER, cid, T0 + timedelta(days=1)),
            SetTimer("pause.return", cid, pause.return_at, {"pause_id": pause.id}),
            Send(ToGroup(cid), Text("onboarding.welcome_back")),
            Send(ToPartner(ana.id or 0), Text("onboarding.welcome_back")),
        ],
        T0,
        claim=False,
    )
    session.flush()
    return Everything(
        couple,
        ana,
        ben,
        pause,
        open_checkin,
        shared_checkin,
        held_checkin,
        differently,
        draft_promise,
        promise,
        asked,
        kept,
        repair,
        hurt_note,
        ended_pause,
        thanks,
        couple_choice,
    )
