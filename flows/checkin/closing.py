"""Closing: both sets of answers shown together (or privately while others are in the
group), a one-sided close that keeps the answers private unless their author shares them,
and "make it a promise"."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from flows import buttons, hooks
from flows.buttons import Press
from flows.checkin import wording
from flows.checkin.model import (
    DIFFERENTLY,
    KIND_PROMISE,
    KIND_SHARE,
    QUESTIONS,
    SHARED,
    Checkin,
    CheckinAnswer,
    CheckinState,
    CheckinTurn,
    PromiseWish,
    answers_of,
    checkin_ref,
    has_private_chat,
    opening_tag,
    really_answered,
    waiting_tag,
)
from flows.couples import (
    Actor,
    partner_of_user,
    partners_of,
)
from flows.models import Couple, Partner
from flows.outcome import (
    Button,
    CancelTimers,
    EditOrigin,
    EditTagged,
    Effects,
    Notice,
    Send,
    Text,
    ToGroup,
    ToPartner,
    keyboard,
    text,
)


def finish(
    session: Session, checkin_row: Checkin, state: str, now: datetime, *, opening: bool = True
) -> Effects:
    """End the check-in. Returns what tidies its messages, each now one line without
    buttons: the opening in the group (unless its own button ended it), each partner's open
    question, and the "that's all four" with its "Change answer" buttons."""
    checkin_row.state = state
    checkin_row.closed_at = now
    session.add(checkin_row)
    outcome = text(f"checkin.outcome_{state}")
    tidy: Effects = []
    if opening:
        tidy.append(
            EditTagged(
                ToGroup(checkin_row.couple_id),
                opening_tag(checkin_row),
                text("checkin.opening_line", outcome=outcome),
            )
        )
    for turn in session.exec(select(CheckinTurn).where(CheckinTurn.checkin_id == checkin_row.id)):
        if turn.asking:
            tidy.append(wording.retire_question(checkin_row, turn.partner_id, turn.asking))
        if turn.finished_at is not None:
            tidy.append(
                EditTagged(
                    ToPartner(turn.partner_id),
                    waiting_tag(checkin_row, turn.partner_id),
                    text("checkin.waiting_line", outcome=outcome),
                )
            )
        turn.asking = 0
        session.add(turn)
    return tidy


def reveal(session: Session, couple: Couple, checkin_row: Checkin, now: datetime) -> Effects:
    """Both sets side by side in the group; at the 48-hour close, what there is.

    While anyone besides the couple is in the group, the answers go to the partners'
    private chats instead (see `_reveal_privately`).
    """
    body, promise_buttons, both = _reveal_body(session, couple, checkin_row)
    tidy = finish(session, checkin_row, CheckinState.DONE if both else CheckinState.PARTLY, now)
    cancel = CancelTimers(couple.id or 0, ref=checkin_ref(checkin_row))
    if couple.others_present:
        return [
            cancel,
            *tidy,
            *_reveal_privately(session, couple, checkin_row, body, promise_buttons),
        ]
    return [
        cancel,
        *tidy,
        Send(
            ToGroup(couple.id or 0),
            body,
            buttons=keyboard(*(row for _owner, row in promise_buttons)),
        ),
    ]


def _reveal_privately(
    session: Session,
    couple: Couple,
    checkin_row: Checkin,
    body: Text,
    promise_buttons: list[tuple[int, list[Button]]],
) -> Effects:
    """Others are in the group: each partner with a private chat gets the answers there.

    A partner without one answered in the group, where everyone read it anyway; whoever
    answered privately is asked whether their answers may go to the group too, so the
    other partner can see them. Nothing private is posted before they say yes.
    """
    partners = partners_of(session, couple.id or 0)
    private = [partner for partner in partners if has_private_chat(partner)]
    if not private:  # everything was answered in the group, where everyone read it
        return [
            Send(
                ToGroup(couple.id or 0),
                body,
                buttons=keyboard(*(row for _owner, row in promise_buttons)),
            )
        ]
    in_group = [partner for partner in partners if not has_private_chat(partner)]
    effects: Effects = []
    for partner in private:
        rows = [row for owner, row in promise_buttons if owner == partner.id]
        if in_group:
            rows.append(
                [
                    buttons.button(
                        text("checkin.button_post_to_group"),
                        KIND_SHARE,
                        checkin_row.id or 0,
                        "post",
                    )
                ]
            )
        effects.append(Send(ToPartner(partner.id or 0), body, buttons=keyboard(*rows)))
    key = "checkin.revealed_privately_ask" if in_group else "checkin.revealed_privately"
    effects.append(
        Send(
            ToGroup(couple.id or 0),
            text(key, names=" & ".join(partner.first_name for partner in private)),
        )
    )
    return effects


def _reveal_body(
    session: Session, couple: Couple, checkin_row: Checkin
) -> tuple[Text, list[tuple[int, list[Button]]], bool]:
    """The side-by-side answers, the "make it a promise" buttons (by whose answer each
    is), and whether both finished."""
    answers = answers_of(session, checkin_row.id or 0)
    partners = partners_of(session, couple.id or 0)
    by_partner = {(row.partner_id, row.question): row for row in answers}
    finished = {
        turn.partner_id
        for turn in session.exec(
            select(CheckinTurn).where(CheckinTurn.checkin_id == checkin_row.id)
        )
        if turn.finished_at is not None
    }
    both = all(partner.id in finished for partner in partners)
    answered = really_answered(answers)
    missing = [partner for partner in partners if partner.id not in answered]
    blocks: list[Text] = []
    for number in QUESTIONS:
        lines: list[Text] = []
        for partner in partners:
            if partner in missing:
                continue
            row = by_partner.get((partner.id or 0, number))
            said = (
                text("checkin.said", answer=row.answer)
                if row is not None and row.answer
                else text("checkin.said_skipped" if row is not None else "checkin.said_none")
            )
            lines.append(text("checkin.reveal_line", name=partner.first_name, said=said))
        if blocks:
            blocks.append(text("checkin.gap"))
        blocks.append(
            text(
                "checkin.reveal_block",
                number=number,
                title=text(f"checkin.title{number}"),
                lines=tuple(lines),
            )
        )
    promise_buttons = [
        (
            partner.id or 0,
            [
                buttons.button(
                    text("checkin.button_promise", name=partner.first_name),
                    KIND_PROMISE,
                    row.id or 0,
                    "make",
                )
            ],
        )
        for partner in partners
        if (row := by_partner.get((partner.id or 0, DIFFERENTLY))) is not None and row.answer
    ]
    if both:
        heading = text("checkin.reveal_both")
    else:
        heading = text(
            "checkin.reveal_partly",
            missing=tuple(
                text("checkin.did_not_get_to_it", name=partner.first_name) for partner in missing
            )
            if missing
            else text("checkin.some_left_open"),
        )
    ending = text("checkin.reveal_end_promise" if promise_buttons else "checkin.reveal_end")
    body = text("checkin.reveal", heading=heading, blocks=tuple(blocks), ending=ending)
    return body, promise_buttons, both


def press_promise(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """ "Make it a promise": only the one who wrote it, once, after the reveal."""
    row = session.get(CheckinAnswer, press.target_id)
    checkin_row = session.get(Checkin, row.checkin_id) if row is not None else None
    if (
        row is None
        or checkin_row is None
        or press.action != "make"
        or row.question != DIFFERENTLY
        or not row.answer
        or checkin_row.state not in SHARED
    ):
        return buttons.expired()
    partner = partner_of_user(session, checkin_row.couple_id, actor.user_id)
    if partner is None:
        return buttons.expired()
    if partner.id != row.partner_id:
        return [Notice(text("checkin.promise_not_yours"))]
    if row.promise_state:
        return [Notice(text("checkin.promise_already"))]
    if not hooks.promises_available():
        row.promise_state = PromiseWish.WANTED
        session.add(row)
        return [Notice(text("checkin.promise_kept_for_later"), alert=True)]
    row.promise_state = PromiseWish.OFFERED
    session.add(row)
    return [
        Notice(text("checkin.promise_notice")),
        *hooks.offer_promise(session, partner, row.answer, now),
    ]


def offer_kept_promises(session: Session, couple: Couple, now: datetime) -> Effects:
    """Answers someone wanted as a promise before promises existed: offered once they do."""
    if not hooks.promises_available():
        return []
    query = (
        select(CheckinAnswer)
        .join(Checkin, col(Checkin.id) == col(CheckinAnswer.checkin_id))
        .where(Checkin.couple_id == couple.id, CheckinAnswer.promise_state == PromiseWish.WANTED)
    )
    effects: Effects = []
    for row in session.exec(query):
        partner = session.get(Partner, row.partner_id)
        row.promise_state = PromiseWish.OFFERED
        session.add(row)
        if partner is not None and partner.couple_id == couple.id and row.answer:
            effects.extend(hooks.offer_promise(session, partner, row.answer, now))
    return effects


def both_through(session: Session, couple: Couple, checkin_row: Checkin, now: datetime) -> Effects:
    """Both are through (or time is up): both sets shown together only when both really
    answered; with one partner's answers only, those stay private; with none, a quiet end."""
    answered = really_answered(answers_of(session, checkin_row.id or 0))
    if not answered:
        tidy = finish(session, checkin_row, CheckinState.MISSED, now)
        return [
            CancelTimers(couple.id or 0, ref=checkin_ref(checkin_row)),
            *tidy,
            Send(ToGroup(couple.id or 0), text("checkin.closed_empty")),
        ]
    partners = partners_of(session, couple.id or 0)
    if len(answered) < len(partners):
        return _close_one_sided(session, couple, checkin_row, partners, answered, now)
    return reveal(session, couple, checkin_row, now)


def _close_one_sided(
    session: Session,
    couple: Couple,
    checkin_row: Checkin,
    partners: list[Partner],
    answered: set[int],
    now: datetime,
) -> Effects:
    """Only one of them answered: nobody's private answers are shown without the other's.

    The group hears that the check-in closed, without blame; whoever answered may still
    choose to share their own answers.
    """
    tidy = finish(session, checkin_row, CheckinState.HELD, now)
    missing = tuple(
        text("checkin.did_not_get_to_it", name=partner.first_name)
        for partner in partners
        if partner.id not in answered
    )
    share = keyboard(
        [buttons.button(text("checkin.button_share"), KIND_SHARE, checkin_row.id or 0, "share")]
    )
    return [
        CancelTimers(couple.id or 0, ref=checkin_ref(checkin_row)),
        *tidy,
        Send(ToGroup(couple.id or 0), text("checkin.closed_one_sided", missing=missing)),
        *(
            Send(ToPartner(partner.id or 0), text("checkin.share_offer"), buttons=share)
            for partner in partners
            if partner.id in answered
        ),
    ]


def press_share(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """ "Share my answers": only someone who answered, only while they are still private."""
    checkin_row = session.get(Checkin, press.target_id)
    couple = session.get(Couple, checkin_row.couple_id) if checkin_row is not None else None
    if checkin_row is not None and couple is not None and press.action == "post":
        return _post_to_group(session, actor, couple, checkin_row)
    if (
        checkin_row is None
        or couple is None
        or press.action != "share"
        or checkin_row.state != CheckinState.HELD
    ):
        return buttons.expired()
    partner = partner_of_user(session, couple.id or 0, actor.user_id)
    if partner is None or partner.id not in really_answered(
        answers_of(session, checkin_row.id or 0)
    ):
        return buttons.expired()
    return [
        Notice(text("checkin.shared_notice")),
        EditOrigin(body=text("checkin.shared")),
        *reveal(session, couple, checkin_row, now),
    ]


def _post_to_group(session: Session, actor: Actor, couple: Couple, checkin_row: Checkin) -> Effects:
    """ "Post them in the group too": a partner who answered privately lets the other,
    who has no private chat, read the answers in the group, others present or not."""
    partner = partner_of_user(session, couple.id or 0, actor.user_id)
    if (
        partner is None
        or checkin_row.state not in SHARED
        or not actor.in_private
        or partner.id not in really_answered(answers_of(session, checkin_row.id or 0))
    ):
        return buttons.expired()
    body, _promise_buttons, _both = _reveal_body(session, couple, checkin_row)
    return [
        Notice(text("checkin.shared_notice")),
        EditOrigin(buttons=()),
        Send(ToGroup(couple.id or 0), body),
    ]
