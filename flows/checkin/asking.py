"""Asking: a check-in opens, each partner gets the questions one by one ("Not tonight",
skip a question, change an answer), and each answer is kept until both are through."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from flows import buttons
from flows.buttons import Press
from flows.checkin import closing, wording
from flows.checkin.model import (
    ANSWERABLE,
    CARE,
    CLOSE_KIND,
    KIND_CHECKIN,
    KIND_QUESTION,
    MAX_ANSWER,
    QUESTIONS,
    REMIND,
    RESUME,
    SHARED,
    Checkin,
    CheckinAnswer,
    CheckinState,
    CheckinTurn,
    answers_of,
    carried_care,
    checkin_ref,
    has_private_chat,
    last_shared,
    opening_tag,
    parse_question_tag,
    question_tag,
    schedule_of,
    turn_of,
    waiting_tag,
)
from flows.checkin.schedule import (
    CLOSE_AFTER,
    REMIND_AFTER,
    next_occurrence,
    reminder_time,
    same_time_tomorrow,
)
from flows.couples import (
    Actor,
    guard,
    other_partner,
    partner_of_user,
    partners_of,
    shown_when,
    zone_of,
)
from flows.inputs import Said
from flows.locking import hold
from flows.models import Couple, Partner
from flows.outcome import (
    CancelTimers,
    EditOrigin,
    EditTagged,
    Effects,
    Notice,
    Send,
    SetTimer,
    Text,
    ToChat,
    ToGroup,
    ToPartner,
    keyboard,
    text,
)
from flows.timeparse import is_word


def start_checkin(
    session: Session, couple: Couple, now: datetime, *, planned_at: datetime
) -> Effects:
    """Open a check-in: one line in the group, the first question to each partner."""
    previous = last_shared(session, couple.id or 0)
    checkin_row = Checkin(couple_id=couple.id or 0, planned_at=planned_at, started_at=now)
    session.add(checkin_row)
    session.flush()
    effects: Effects = [wording.opening(checkin_row, can_snooze=True)]
    for partner in partners_of(session, couple.id or 0):
        turn = CheckinTurn(checkin_id=checkin_row.id or 0, partner_id=partner.id or 0)
        session.add(turn)
        carried = carried_care(session, previous, partner)
        effects.append(ask(checkin_row, turn, partner, CARE, now, carried=carried))
    session.flush()
    effects.extend(timers_from(session, couple, checkin_row, now))
    effects.extend(closing.offer_kept_promises(session, couple, now))
    return effects


def timers_from(session: Session, couple: Couple, checkin_row: Checkin, now: datetime) -> Effects:
    """The 48-hour close and one reminder per partner, counted from `now`."""
    ref = checkin_ref(checkin_row)
    effects: Effects = [
        SetTimer(
            CLOSE_KIND, couple.id or 0, now + CLOSE_AFTER, {"checkin_id": checkin_row.id}, ref=ref
        )
    ]
    for partner in partners_of(session, couple.id or 0):
        effects.append(
            SetTimer(
                REMIND,
                couple.id or 0,
                reminder_time(now + REMIND_AFTER, zone_of(couple, partner)),
                {"checkin_id": checkin_row.id, "partner_id": partner.id},
                ref=ref,
            )
        )
    return effects


def ask(
    checkin_row: Checkin,
    turn: CheckinTurn,
    partner: Partner,
    question: int,
    now: datetime,
    *,
    carried: str | None = None,
    intro: Text | None = None,
) -> Send:
    """One question to one partner: privately with a skip button, or in the group as a
    question to reply to, saying that both can read the answer there."""
    turn.asking = question
    turn.asked_at = now
    lines: list[Text] = []
    if intro is not None:
        lines.append(intro)
    if carried:
        lines.append(text("checkin.carried", said=carried))
    lines.append(text("checkin.question", number=question, question=text(f"checkin.q{question}")))
    tag = question_tag(checkin_row, partner.id or 0, question)
    if has_private_chat(partner):
        lines.append(text("checkin.how_private"))
        skip = buttons.button(
            text("checkin.button_pass"), KIND_QUESTION, checkin_row.id or 0, f"pass{question}"
        )
        return Send(
            ToPartner(partner.id or 0),
            text("checkin.ask", lines=tuple(lines)),
            buttons=keyboard([skip]),
            tag=tag,
        )
    lines.append(text("checkin.how_group"))
    return Send(
        ToPartner(partner.id or 0),
        text("checkin.ask", lines=tuple(lines)),
        force_reply=True,
        tag=tag,
    )


def press_checkin(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """ "Not tonight": tomorrow at the same time (once), or skip this week."""
    checkin_row = session.get(Checkin, press.target_id)
    if checkin_row is None:
        return buttons.expired()
    couple = session.get(Couple, checkin_row.couple_id)
    partner = partner_of_user(session, checkin_row.couple_id, actor.user_id)
    if couple is None or partner is None or actor.chat_id != couple.group_chat_id:
        return buttons.expired()
    if checkin_row.state not in ANSWERABLE:
        # Its week is over: the opening becomes one line of how it went, without buttons.
        return [
            *buttons.expired(),
            EditOrigin(
                body=text(
                    "checkin.opening_line", outcome=text(f"checkin.outcome_{checkin_row.state}")
                )
            ),
        ]
    if press.action == "skip":
        tidy = closing.finish(session, checkin_row, CheckinState.SKIPPED, now, opening=False)
        schedule = schedule_of(session, couple.id or 0)
        after = (
            text(
                "checkin.next_is",
                when=shown_when(
                    session, couple, next_occurrence(schedule, couple, now), zone_named=True
                ),
            )
            if schedule is not None and schedule.active
            else text("checkin.next_none")
        )
        return [
            CancelTimers(couple.id or 0, ref=checkin_ref(checkin_row)),
            Notice(text("checkin.skipped_notice")),
            EditOrigin(body=text("checkin.skipped", name=partner.first_name, after=after)),
            *tidy,
        ]
    if (
        press.action == "snooze"
        and checkin_row.state == CheckinState.OPEN
        and not checkin_row.snoozed
    ):
        resume_at = same_time_tomorrow(checkin_row, couple, now)
        checkin_row.state = CheckinState.SNOOZED
        checkin_row.snoozed = True
        session.add(checkin_row)
        return [
            CancelTimers(couple.id or 0, ref=checkin_ref(checkin_row)),
            SetTimer(
                RESUME,
                couple.id or 0,
                resume_at,
                {"checkin_id": checkin_row.id},
                ref=checkin_ref(checkin_row),
            ),
            Notice(text("checkin.snoozed_notice")),
            EditOrigin(
                body=text(
                    "checkin.snoozed",
                    name=partner.first_name,
                    when=shown_when(session, couple, resume_at, zone_named=True),
                ),
                buttons=keyboard(
                    [
                        buttons.button(
                            text("checkin.button_skip_week"),
                            KIND_CHECKIN,
                            checkin_row.id or 0,
                            "skip",
                        )
                    ]
                ),
            ),
        ]
    return buttons.expired()


def answer_text(session: Session, actor: Actor, said: Said, now: datetime) -> Effects | None:
    """An answer: a reply to a check-in question, or any private text while one waits."""
    tagged = parse_question_tag(said.reply_to_tag)
    if tagged is None:
        if said.reply_to_tag is not None or not actor.in_private:
            return None  # another feature's question
        waiting = _waiting_in_private(session, actor)
        if waiting is None:
            return None
        checkin_row, turn, partner = waiting
        question = turn.asking
    else:
        checkin_id, partner_id, question = tagged
        checkin_found = session.get(Checkin, checkin_id)
        if checkin_found is None or question not in QUESTIONS:
            return None
        checkin_row = checkin_found
        couple = session.get(Couple, checkin_row.couple_id)
        if couple is None:
            return None
        found = partner_of_user(session, couple.id or 0, actor.user_id)
        if found is None or not (actor.in_private or actor.chat_id == couple.group_chat_id):
            refusal = guard(session, actor, now)
            return refusal if isinstance(refusal, list) else []
        partner = found
        if partner.id != partner_id:
            owner = session.get(Partner, partner_id)
            return [
                Send(
                    ToChat(actor.chat_id),
                    text("checkin.not_your_question", name=owner.first_name if owner else ""),
                )
            ]
        turn_found = turn_of(session, checkin_id, partner_id)
        if turn_found is None:
            return None
        turn = turn_found
    said_text = said.text.strip()
    if len(said_text) > MAX_ANSWER:
        return [Send(ToChat(actor.chat_id), text("common.too_long", limit=MAX_ANSWER))]
    given = None if is_word(said_text, "skip", partner.language) else said_text
    # The next question goes out first: the edit of this one waits behind it in the chat.
    return [
        *record_answer(
            session, checkin_row, turn, partner, question, given, now, reply=ToChat(actor.chat_id)
        ),
        wording.retire_question(checkin_row, partner.id or 0, question),
    ]


def _waiting_in_private(
    session: Session, actor: Actor
) -> tuple[Checkin, CheckinTurn, Partner] | None:
    """The check-in question this person's private text answers, when no question is on
    screen in this chat (the shell passes the latest delivered one as `Said.reply_to_tag`,
    so another feature's question keeps its answers)."""
    query = (
        select(Checkin, CheckinTurn, Partner)
        .join(CheckinTurn, col(CheckinTurn.checkin_id) == col(Checkin.id))
        .join(Partner, col(Partner.id) == col(CheckinTurn.partner_id))
        .where(
            Partner.user_id == actor.user_id,
            col(CheckinTurn.asking) > 0,
            col(Checkin.state).in_(ANSWERABLE),
        )
        .order_by(col(CheckinTurn.asked_at).desc())
    )
    found = session.exec(query).first()
    return (found[0], found[1], found[2]) if found is not None else None


def record_answer(
    session: Session,
    checkin_row: Checkin,
    turn: CheckinTurn,
    partner: Partner,
    question: int,
    given: str | None,
    now: datetime,
    *,
    reply: ToChat | None = None,
) -> Effects:
    """Keep (or change, before the closing.reveal) one answer, then ask the next question or,
    once both are through, show both sets together."""
    # Both partners may send their last answer at the same moment: whoever comes second
    # waits here until the first has committed, and so sees them finished.
    checkin_row = hold(session, checkin_row)
    turn = turn_of(session, checkin_row.id or 0, partner.id or 0, fresh=True) or turn
    if checkin_row.state not in ANSWERABLE:
        key = "checkin.too_late_to_edit" if checkin_row.state in SHARED else "checkin.closed"
        return [Send(reply or ToPartner(partner.id or 0), text(key))]
    query = select(CheckinAnswer).where(
        CheckinAnswer.checkin_id == checkin_row.id,
        CheckinAnswer.partner_id == partner.id,
        CheckinAnswer.question == question,
    )
    existing = session.exec(query).first()
    if existing is None:
        session.add(
            CheckinAnswer(
                checkin_id=checkin_row.id or 0,
                partner_id=partner.id or 0,
                question=question,
                answer=given,
                answered_at=now,
            )
        )
    else:
        existing.answer, existing.answered_at = given, now
        session.add(existing)
    session.flush()
    all_answers = answers_of(session, checkin_row.id or 0)
    answered = {row.question for row in all_answers if row.partner_id == partner.id}
    remaining = [number for number in QUESTIONS if number not in answered]
    effects: Effects = []
    since_opening = [row for row in all_answers if row.answered_at >= checkin_row.started_at]
    if len(since_opening) == 1:
        # The first answer since the opening: "Not tonight" is past, and its buttons go.
        effects.append(
            EditTagged(
                ToGroup(checkin_row.couple_id),
                opening_tag(checkin_row),
                text("checkin.opening_started"),
            )
        )
    if existing is not None:
        effects.append(Send(ToPartner(partner.id or 0), text("checkin.changed", number=question)))
    if remaining:
        effects.append(ask(checkin_row, turn, partner, remaining[0], now))
        return effects
    turn.asking = 0
    if turn.finished_at is None:
        turn.finished_at = now
    session.add(turn)
    couple = session.get(Couple, checkin_row.couple_id)
    other = other_partner(session, partner)
    other_turn = turn_of(session, checkin_row.id or 0, other.id or 0, fresh=True) if other else None
    if couple is not None and other_turn is not None and other_turn.finished_at is not None:
        return effects + closing.both_through(session, couple, checkin_row, now)
    if existing is None:
        effects.append(
            Send(
                ToPartner(partner.id or 0),
                text(
                    "checkin.thanks_waiting",
                    name=partner.first_name,
                    other=other.first_name if other else "",
                ),
                buttons=wording.edit_buttons(checkin_row),
                tag=waiting_tag(checkin_row, partner.id or 0),
            )
        )
    return effects


def press_question(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """ "Skip this question" and "Change answer N" (only until both sets are shown)."""
    checkin_row = session.get(Checkin, press.target_id)
    action, number = press.action[:4], press.action[4:]
    if (
        checkin_row is None
        or action not in {"pass", "edit"}
        or not number.isdigit()
        or int(number) not in QUESTIONS
    ):
        return buttons.expired()
    partner = partner_of_user(session, checkin_row.couple_id, actor.user_id)
    turn = turn_of(session, checkin_row.id or 0, partner.id or 0) if partner else None
    if partner is None or turn is None:
        return buttons.expired()
    question = int(number)
    if checkin_row.state in SHARED:
        return [
            Notice(text("checkin.too_late_to_edit"), alert=True),
            EditOrigin(body=text("checkin.shared_line")),
        ]
    if checkin_row.state not in ANSWERABLE:
        return buttons.expired()
    if action == "pass":
        if turn.asking != question:
            return buttons.expired()
        return [
            Notice(text("checkin.passed_notice")),
            EditOrigin(buttons=()),
            *record_answer(session, checkin_row, turn, partner, question, None, now),
        ]
    return [
        Notice(text("checkin.edit_notice")),
        ask(checkin_row, turn, partner, question, now, intro=text("checkin.edit_intro")),
    ]
