"""/repair: either partner starts; an apology is written step by step and can be answered.

/repair first asks, privately, which side you start from: to apologise, or to say what
hurt (the hurt partner's note, `flows/hurt.py`). Repair takes two people, so both sides
have a way in (product.md, "Repair").

The apology has four steps: what I take responsibility for, the impact I think it had
(with the other's note beside the question when they chose to share one), what I'll do
differently next time, and one question for my partner about tonight. Ownership comes
before explanation: a first answer that opens with an explanation or a "sorry, but" gets
one gentle hint and the chance to rewrite, never a refusal. The answers are put together
as prose in the author's own voice, with an "I'm sorry" the author can keep or remove,
and nothing reaches the group until the author taps Post.

Under the posted message the receiver can answer with one tap (thank you / I need some
time / can we talk tonight?); the author hears which, privately. No answer is ever asked
for again or counted.

The steps are asked in the author's private chat when they opened it; otherwise in the
group as force-reply questions (the author is told their partner can read along). The
draft lives in the `repair` table, so a restart in the middle loses nothing.

This module starts a repair, takes the answers and the author's buttons, and declares
`FEATURE`; the words are in `wording.py`, the hint's rule in `hint.py`, the receiver's
answer in `receiving.py`.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from flows import buttons, hooks, hurt
from flows.buttons import Press
from flows.couples import (
    Actor,
    Membership,
    guard,
    other_partner,
)
from flows.feature import Feature
from flows.inputs import Said, step_tag
from flows.models import Couple, Partner
from flows.onboarding import deep_link
from flows.outcome import (
    Button,
    EditOrigin,
    EditTagged,
    Effects,
    Keyboard,
    Notice,
    Send,
    ToChat,
    ToGroup,
    ToPartner,
    keyboard,
    text,
)
from flows.repair import wording
from flows.repair.hint import explains_before_owning, says_sorry
from flows.repair.model import (
    ANSWER,
    CHOOSE,
    KIND,
    MAX_ANSWER,
    STEPS,
    TAG,
    Repair,
    RepairState,
    active_repair,
    cancel_draft,
    private_draft_of_user,
    question_tag,
)
from flows.repair.receiving import press_answer
from flows.timeparse import is_word

# ---- /repair -----------------------------------------------------------------------------


def start_repair(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/repair: ask which side to start from, or pick up what is in progress."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    current = active_repair(session, found.partner_id)
    note = hurt.active_note(session, found.partner_id)
    here = ToChat(actor.chat_id)
    if is_word(args, "stop", found.partner.language):
        if current is None and note is None:
            return [Send(here, text("repair.nothing_to_cancel"))]
        tidy = _cancelled_by_typing(current) if current is not None else []
        if current is not None:
            cancel_draft(session, current, now)
        if note is not None:
            tidy.extend(hurt.cancelled_by_typing(note))
            hurt.cancel(session, note, now)
        return [*tidy, Send(here, text("repair.cancelled"))]
    if note is not None:
        return [
            *_pointer_to_private(found.partner, actor),
            *hurt.resume(session, note, found.partner),
        ]
    if current is not None:
        step = STEPS.index(current.step) + 1 if current.state == RepairState.WRITING else len(STEPS)
        return [
            Send(
                here,
                text("repair.in_progress", number=step, total=len(STEPS)),
                buttons=keyboard(
                    [wording.button(current, "continue", "continue")],
                    [
                        wording.button(current, "start_over", "over"),
                        wording.button(current, "cancel", "cancel"),
                    ],
                ),
            )
        ]
    return _choose(session, found.partner, actor)


def _private_open(partner: Partner) -> bool:
    return partner.private_open and not partner.private_blocked


def _pointer_to_private(partner: Partner, actor: Actor) -> Effects:
    """Started in the group, continued in private: the group hears only where to go."""
    if actor.in_private or not _private_open(partner):
        return []
    return [Send(ToChat(actor.chat_id), text("repair.started_private", name=partner.first_name))]


def _choose(session: Session, partner: Partner, actor: Actor) -> Effects:
    """Apologise, or say what hurt: asked privately (in the group only without a private chat)."""
    other = wording.other_name(session, partner)
    choices = keyboard(
        [buttons.button(text("repair.button_choose_apology"), CHOOSE, partner.id or 0, "apology")],
        [buttons.button(text("repair.button_choose_hurt"), CHOOSE, partner.id or 0, "hurt")],
    )
    shared = hurt.shared_note_for(session, partner) is not None
    body = text("repair.choose_with_note" if shared else "repair.choose", other=other)
    return [
        *_pointer_to_private(partner, actor),
        Send(ToPartner(partner.id or 0), body, buttons=choices),
    ]


def press_choose(session: Session, actor: Actor, pressed: Press, now: datetime) -> Effects:
    """The side chosen after /repair: start the apology, or the note about what hurt."""
    partner = session.get(Partner, pressed.target_id)
    couple = session.get(Couple, partner.couple_id) if partner is not None else None
    if (
        partner is None
        or couple is None
        or partner.user_id != actor.user_id
        or actor.chat_id not in {couple.group_chat_id, partner.user_id}
        or pressed.action not in {"apology", "hurt"}
    ):
        return buttons.expired()
    if active_repair(session, partner.id or 0) or hurt.active_note(session, partner.id or 0):
        return buttons.expired()  # something is in progress already; /repair picks it up
    if pressed.action == "hurt":
        if not _private_open(partner):
            link = Button(
                label=text("repair.button_open_private"), url=deep_link(partner.couple_id)
            )
            return [
                EditOrigin(
                    body=text("repair.hurt_needs_private", name=partner.first_name),
                    buttons=keyboard([link]),
                )
            ]
        return [EditOrigin(body=text("repair.chose_hurt")), *hurt.start_note(session, partner, now)]
    repair = _new_repair(session, partner, now)
    return [
        EditOrigin(body=text("repair.chose_apology")),
        *_opening(session, repair, partner, actor),
    ]


def _new_repair(session: Session, partner: Partner, now: datetime) -> Repair:
    """A fresh draft, asked privately when the author's private chat is open."""
    note = hurt.shared_note_for(session, partner)
    repair = Repair(
        couple_id=partner.couple_id,
        partner_id=partner.id or 0,
        private=_private_open(partner),
        started_at=now,
        updated_at=now,
        hurt_note_id=note.id if note is not None else None,
    )
    session.add(repair)
    session.flush()
    return repair


def _opening(session: Session, repair: Repair, partner: Partner, actor: Actor) -> Effects:
    effects: Effects = []
    if repair.private:
        effects.append(
            Send(
                ToPartner(repair.partner_id),
                text("repair.intro_private", other=wording.other_name(session, partner)),
            )
        )
    else:
        link = Button(label=text("repair.button_open_private"), url=deep_link(repair.couple_id))
        effects.append(
            Send(
                ToGroup(repair.couple_id),
                text(
                    "repair.intro_group",
                    name=partner.first_name,
                    other=wording.other_name(session, partner),
                ),
                buttons=keyboard([link]),
            )
        )
    effects.append(wording.question(session, repair, partner))
    return effects


# ---- answers -----------------------------------------------------------------------------


def answer(session: Session, actor: Actor, said: Said, now: datetime) -> Effects | None:
    """An answer to a repair question: by reply (group or private) or as private text."""
    tagged = step_tag(said.reply_to_tag, TAG)
    if tagged is not None:
        repair = session.get(Repair, tagged[0])
        partner = session.get(Partner, repair.partner_id) if repair is not None else None
        if repair is None or partner is None or partner.user_id != actor.user_id:
            return []  # someone else replied to the author's question: not theirs to answer
        if repair.state != RepairState.WRITING:
            return [Send(ToChat(actor.chat_id), text("repair.not_waiting"))]
        if tagged[1] != repair.step:
            # A reply to an earlier question: ask the current one again rather than guess.
            return [
                Send(ToChat(actor.chat_id), text("repair.answer_latest")),
                wording.question(session, repair, partner),
            ]
    elif actor.in_private and said.reply_to_tag is None:
        repair = private_draft_of_user(session, actor.user_id)
        if repair is None:
            return None
        partner = session.get(Partner, repair.partner_id)
        if partner is None:
            return None
    else:
        return None
    return _take_answer(session, repair, partner, actor, said.text.strip(), now)


def _take_answer(
    session: Session,
    repair: Repair,
    partner: Partner,
    actor: Actor,
    answer_text: str,
    now: datetime,
) -> Effects:
    if is_word(answer_text, "stop", partner.language):
        tidy = _cancelled_by_typing(repair)
        cancel_draft(session, repair, now)
        return [*tidy, Send(ToChat(actor.chat_id), text("repair.cancelled"))]
    if not answer_text:
        return [wording.question(session, repair, partner)]
    if len(answer_text) > MAX_ANSWER:
        return [Send(ToChat(actor.chat_id), text("common.too_long", limit=MAX_ANSWER))]
    if repair.step == "need" and is_word(answer_text, "plain_need", partner.language):
        answer_text = ""
    setattr(repair, repair.step, answer_text)
    if repair.step == "ownership":
        repair.with_sorry = not says_sorry(answer_text)
    repair.updated_at = now
    if (
        repair.step == "ownership"
        and not repair.hinted
        and explains_before_owning(answer_text, partner.language)
    ):
        repair.hinted = True
        session.add(repair)
        return [wording.hint(repair)]
    return _next_question_or_review(session, repair, partner, now)


def _next_question_or_review(
    session: Session, repair: Repair, partner: Partner, now: datetime
) -> Effects:
    """After an answer: the next step, or the review when every part is there."""
    index = STEPS.index(repair.step)
    repair.updated_at = now
    if repair.editing or index == len(STEPS) - 1:
        repair.state, repair.editing = RepairState.REVIEW, False
        session.add(repair)
        return [wording.review(session, repair, partner)]
    repair.step = STEPS[index + 1]
    session.add(repair)
    return [wording.question(session, repair, partner)]


def _cancelled_by_typing(repair: Repair) -> Effects:
    """Stopped by typing (not by its Cancel button): the question or review it waited on
    becomes one line without buttons. Read before `cancel_draft` changes the row."""
    waiting_on = (
        f"{TAG}:{repair.id}:review" if repair.state == RepairState.REVIEW else question_tag(repair)
    )
    return [EditTagged(wording.to_author(repair), waiting_on, text("repair.cancelled"))]


# ---- buttons -----------------------------------------------------------------------------

EDITABLE = {f"e_{step}": step for step in STEPS}


def press(session: Session, actor: Actor, pressed: Press, now: datetime) -> Effects:
    """Every repair button; only the author's presses count, and only while it applies."""
    repair = session.get(Repair, pressed.target_id)
    partner = session.get(Partner, repair.partner_id) if repair is not None else None
    if repair is None or partner is None or partner.user_id != actor.user_id:
        return buttons.expired()
    couple = session.get(Couple, repair.couple_id)
    if couple is None or actor.chat_id not in {couple.group_chat_id, partner.user_id}:
        return buttons.expired()
    action = pressed.action
    if action == "promise":
        return _press_promise(session, repair, partner, now)
    if not repair.active:
        return buttons.expired()
    if action == "cancel":
        cancel_draft(session, repair, now)
        return [EditOrigin(body=text("repair.cancelled"))]
    if action == "continue":
        resume = (
            wording.review(session, repair, partner)
            if repair.state == RepairState.REVIEW
            else wording.question(session, repair, partner)
        )
        return [EditOrigin(body=text("repair.continuing")), resume]
    if action == "over":
        cancel_draft(session, repair, now)
        return [EditOrigin(body=text("repair.starting_over")), *_choose(session, partner, actor)]
    if repair.state == RepairState.WRITING:
        return _press_while_writing(session, repair, partner, action, now)
    return _press_in_review(session, repair, partner, action, now)


def _press_while_writing(
    session: Session, repair: Repair, partner: Partner, action: str, now: datetime
) -> Effects:
    if action == "keep" and repair.step == "ownership" and repair.ownership:
        return [
            EditOrigin(body=text("repair.kept")),
            *_next_question_or_review(session, repair, partner, now),
        ]
    if action == "plain" and repair.step == "need":
        repair.need = ""
        return [
            EditOrigin(body=text("repair.plain_need_chosen")),
            *_next_question_or_review(session, repair, partner, now),
        ]
    return buttons.expired()


def _press_in_review(
    session: Session, repair: Repair, partner: Partner, action: str, now: datetime
) -> Effects:
    if action == "post":
        return _post(session, repair, partner, now)
    if action == "sorry":
        repair.with_sorry = not repair.with_sorry
        repair.updated_at = now
        session.add(repair)
        review = wording.review(session, repair, partner)
        return [
            Notice(
                text(
                    "repair.sorry_kept_notice"
                    if repair.with_sorry
                    else "repair.sorry_removed_notice"
                )
            ),
            EditOrigin(body=review.body, buttons=review.buttons),
        ]
    if action == "edit":
        parts = [[wording.button(repair, f"edit_{step}", f"e_{step}")] for step in STEPS]
        parts.append([wording.button(repair, "back", "back")])
        return [EditOrigin(body=text("repair.edit_which"), buttons=keyboard(*parts))]
    if action == "back":
        review = wording.review(session, repair, partner)
        return [EditOrigin(body=review.body, buttons=review.buttons)]
    if action in EDITABLE:
        repair.state, repair.step, repair.editing = RepairState.WRITING, EDITABLE[action], True
        repair.updated_at = now
        session.add(repair)
        return [EditOrigin(body=text("repair.editing")), wording.question(session, repair, partner)]
    return buttons.expired()


def _post(session: Session, repair: Repair, partner: Partner, now: datetime) -> Effects:
    other = other_partner(session, partner)
    if other is None:
        return [Notice(text("repair.nobody_to_post"), alert=True)]
    couple = session.get(Couple, repair.couple_id)
    # Others in the group (flows/members.py): the repair goes to the other's private chat,
    # and waits while they have none.
    privately = couple is not None and couple.others_present
    if privately and not (other.private_open and not other.private_blocked):
        return [Notice(text("repair.others_present_wait", other=other.first_name), alert=True)]
    repair.state, repair.posted_at, repair.updated_at = RepairState.POSTED, now, now
    session.add(repair)
    hurt.mark_answered(session, repair.hurt_note_id, now)
    done: Keyboard = ()
    key = "repair.posted_author"
    if wording.can_offer_promise(repair):
        done = keyboard([wording.button(repair, "promise", "promise")])
        key = "repair.posted_author_promise"
    if privately:
        key += "_private"
    return [
        Notice(text("repair.posted_notice")),
        EditOrigin(body=text(key, other=other.first_name), buttons=done),
        Send(
            ToPartner(other.id or 0) if privately else ToGroup(repair.couple_id),
            text(
                "repair.posted_group",
                other=other.first_name,
                message=wording.composed(session, repair, partner),
            ),
            buttons=wording.answer_buttons(repair),
        ),
    ]


def _press_promise(session: Session, repair: Repair, partner: Partner, now: datetime) -> Effects:
    """ "Make it a promise": the "next time" answer goes to the promises feature."""
    if repair.state not in {
        RepairState.REVIEW,
        RepairState.POSTED,
    } or not wording.can_offer_promise(repair):
        return buttons.expired()
    repair.promise_offered = True
    repair.updated_at = now
    session.add(repair)
    if repair.state == RepairState.REVIEW:
        remaining = EditOrigin(buttons=wording.review_buttons(repair))
    else:
        remaining = EditOrigin(buttons=())
    return [remaining, *hooks.offer_promise(session, partner, repair.change or "", now)]


# ---- leaving -----------------------------------------------------------------------------


def _drop_drafts_on_leave(
    session: Session, couple: Couple, partner: Partner, now: datetime
) -> Effects:
    """A partner who leaves has no repair to finish, and the one who stays has nobody to
    send theirs to: both unposted drafts are dropped, and the one who stays is told why."""
    draft = active_repair(session, partner.id or 0)
    if draft is not None:
        cancel_draft(session, draft, now)
    other = other_partner(session, partner)
    theirs = active_repair(session, other.id or 0) if other is not None else None
    if other is None or theirs is None:
        return []
    cancel_draft(session, theirs, now)
    return [Send(ToPartner(other.id or 0), text("repair.partner_left", other=partner.first_name))]


FEATURE = Feature(
    name="repair",
    commands={"repair": start_repair},
    buttons={CHOOSE: press_choose, KIND: press, ANSWER: press_answer},
    on_text=(answer,),
    on_leave=(_drop_drafts_on_leave,),
)
