"""What the author of a repair sees: the step questions, the letter, the review."""

from __future__ import annotations

from sqlmodel import Session

from flows import buttons, hooks, hurt
from flows.couples import other_partner
from flows.models import Partner
from flows.outcome import (
    Button,
    Keyboard,
    Send,
    Target,
    Text,
    ToGroup,
    ToPartner,
    keyboard,
    text,
)
from flows.repair.model import ANSWER, ANSWERS, KIND, STEPS, TAG, Repair, question_tag


def to_author(repair: Repair) -> Target:
    return ToPartner(repair.partner_id) if repair.private else ToGroup(repair.couple_id)


def other_name(session: Session, partner: Partner) -> str:
    other = other_partner(session, partner)
    return other.first_name if other is not None else ""


def button(repair: Repair, label: str, action: str) -> Button:
    return buttons.button(text(f"repair.button_{label}"), KIND, repair.id or 0, action)


def question(session: Session, repair: Repair, partner: Partner) -> Send:
    number = STEPS.index(repair.step) + 1
    other = other_name(session, partner)
    key = f"repair.ask_{repair.step}"
    if repair.step == "need" and not repair.private:
        key = "repair.ask_need_group"
    body = text(key, other=other, number=number, total=len(STEPS), plain=text("repair.need_plain"))
    note = session.get(hurt.HurtNote, repair.hurt_note_id) if repair.hurt_note_id else None
    if repair.step == "impact" and note is not None and note.state == hurt.SHARED:
        # Shown beside the question, privately; the posted message never quotes it.
        body = (
            text(
                "repair.ask_impact_with_note", other=other, note=hurt.note_text(note), question=body
            )
            if repair.private
            else text("repair.ask_impact_note_in_private", other=other, question=body)
        )
    if not repair.private:
        # A question in the group can only be answered by replying to it.
        return Send(
            ToGroup(repair.couple_id),
            text("repair.ask_in_group", question=body),
            force_reply=True,
            tag=question_tag(repair),
        )
    rows: list[list[Button]] = []
    if repair.step == "need":
        rows.append([button(repair, "plain_need", "plain")])
    rows.append([button(repair, "cancel", "cancel")])
    return Send(
        ToPartner(repair.partner_id), body, buttons=keyboard(*rows), tag=question_tag(repair)
    )


def composed(session: Session, repair: Repair, partner: Partner) -> Text:
    """The message as the other partner will read it: the author's own sentences, in order,
    as one letter with no labels (a form reads like a form, not like a person)."""
    need: Text | str = repair.need or text("repair.need_plain")
    ownership: Text | str = repair.ownership or ""
    if repair.with_sorry:
        ownership = text("repair.sorry_then", ownership=ownership)
    return text(
        "repair.composed",
        author=partner.first_name,
        other=other_name(session, partner),
        ownership=ownership,
        impact=repair.impact or "",
        change=repair.change or "",
        need=need,
    )


def can_offer_promise(repair: Repair) -> bool:
    return hooks.promises_available() and not repair.promise_offered and bool(repair.change)


def review_buttons(repair: Repair) -> Keyboard:
    sorry = button(repair, "sorry_remove" if repair.with_sorry else "sorry_add", "sorry")
    rows = [
        [button(repair, "post", "post")],
        [sorry],
        [button(repair, "edit", "edit"), button(repair, "cancel", "cancel")],
    ]
    if can_offer_promise(repair):
        rows.append([button(repair, "promise", "promise")])
    return keyboard(*rows)


def review(session: Session, repair: Repair, partner: Partner) -> Send:
    body = text(
        "repair.review",
        message=composed(session, repair, partner),
        other=other_name(session, partner),
    )
    return Send(
        to_author(repair), body, buttons=review_buttons(repair), tag=f"{TAG}:{repair.id}:review"
    )


def hint(repair: Repair) -> Send:
    key = "repair.hint_private" if repair.private else "repair.hint_group"
    return Send(
        to_author(repair),
        text(key),
        buttons=keyboard([button(repair, "keep", "keep")], [button(repair, "cancel", "cancel")]),
        tag=question_tag(repair),
    )


def answer_buttons(repair: Repair) -> Keyboard:
    return keyboard(
        *[
            [buttons.button(text(f"repair.button_answer_{choice}"), ANSWER, repair.id or 0, choice)]
            for choice in ANSWERS
        ]
    )
