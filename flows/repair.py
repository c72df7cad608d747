"""/repair: one partner writes a repair message step by step, reads it, and posts it.

The four steps (product.md, "Repair"): what I take responsibility for, the impact I
think it had, what I'll do differently next time, and one thing my partner needs from
me tonight. Ownership comes before explanation: a first answer that opens with an
explanation or a "sorry, but" gets one gentle hint and the chance to rewrite, never a
refusal. Nothing reaches the group until the author taps Post.

The steps are asked in the author's private chat when they opened it; otherwise in the
group as force-reply questions (the author is told their partner can read along). The
draft lives in the `repair` table, so a restart in the middle loses nothing.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Field, Session, SQLModel, col, select

from flows import buttons, hooks
from flows.buttons import Press, on_press
from flows.couples import Actor, Membership, couples_of_user, guard, other_partner
from flows.inputs import Said, on_text
from flows.models import Couple, Partner, secret_text, utc_column
from flows.onboarding import ON_LEAVE, deep_link
from flows.outcome import (
    Button,
    EditOrigin,
    Effects,
    Keyboard,
    Notice,
    Send,
    Target,
    Text,
    ToChat,
    ToGroup,
    ToPartner,
    keyboard,
    text,
)
from flows.timeparse import is_word, pattern

KIND = "rp"
TAG = "repair"
STEPS = ("ownership", "impact", "change", "need")
# One answer is a sentence or two; a wall of text is not what the other partner should get.
MAX_ANSWER = 600
# Words that stop the repair when sent as an answer (group replies cannot carry a button),
# and, sent as the last answer, use Mend's own wording for the closing question: the
# catalogue's `parse.stop` and `parse.plain_need`.


class Repair(SQLModel, table=True):
    """One repair message being written, reviewed, posted or dropped."""

    id: int | None = Field(default=None, primary_key=True)
    couple_id: int = Field(foreign_key="couple.id", index=True)
    partner_id: int = Field(index=True)
    # The steps are asked in the author's private chat (else in the group).
    private: bool = False
    # writing -> review -> posted | cancelled
    state: str = "writing"
    # The question being asked while writing: one of STEPS.
    step: str = "ownership"
    # Changing one part from the review: its answer leads back to the review.
    editing: bool = False
    # The ownership hint is given once per repair, never twice.
    hinted: bool = False
    promise_offered: bool = False
    ownership: str | None = secret_text(nullable=True)
    impact: str | None = secret_text(nullable=True)
    change: str | None = secret_text(nullable=True)
    # "" means the author chose Mend's own wording for the closing question.
    need: str | None = secret_text(nullable=True)
    started_at: datetime = utc_column()
    updated_at: datetime = utc_column()
    posted_at: datetime | None = utc_column(nullable=True)

    @property
    def active(self) -> bool:
        return self.state in {"writing", "review"}


# ---- the ownership hint ------------------------------------------------------------------

_FILLER = re.compile(r"^(?:(?:ok|okay|look|listen|well|honestly|so|hey)\b[\s,.!:-]*)+")
# An apology that explains (or pushes back) before it owns anything.
_EXPLAINS_FIRST = re.compile(
    r"""^(?:
        (?:i'?m\s+|i\s+am\s+)?(?:so\s+|really\s+|very\s+|truly\s+)?sorry\b[^.!?]{0,40}?\bbut\b
      | (?:i'?m\s+|i\s+am\s+)?sorry\s+(?:if|that\s+you|you)\b
      | i\s+(?:didn'?t|did\s+not|never)\s+mean\b
      | you\s+know\s+(?:how\s+|that\s+)?i\b
      | i\s+was\s+(?:just\s+|only\s+)?(?:so\s+|really\s+)?
          (?:tired|stressed|exhausted|overwhelmed|busy|trying|joking)\b
      | (?:it'?s|it\s+is|it\s+was)\s+(?:just\s+)?(?:that|because)\b
      | because\b | in\s+my\s+defen[cs]e\b | to\s+be\s+fair\b | the\s+thing\s+is\b
      | if\s+you\s+(?:hadn'?t|had)\b | you\s+made\s+me\b | you\s+always\b | you\s+never\b
    )""",
    re.VERBOSE,
)


def explains_before_owning(answer: str, language: str | None = "en") -> bool:
    """True when an apology leads with an explanation or a "but" before ownership (English
    above; other languages list their openings in the catalogue, `parse.explains_first`)."""
    cleaned = " ".join(answer.lower().replace("\u2019", "'").replace("\u2018", "'").split())
    cleaned = _FILLER.sub("", cleaned.lstrip(" \"'-–—,."))
    if _EXPLAINS_FIRST.match(cleaned):
        return True
    unpunctuated = " ".join(cleaned.replace(",", " ").split())
    return re.match(rf"(?:{pattern('explains_first', language)})\b", unpunctuated) is not None


# ---- finding repairs -----------------------------------------------------------------------


def active_repair(session: Session, partner_id: int) -> Repair | None:
    query = (
        select(Repair)
        .where(Repair.partner_id == partner_id, col(Repair.state).in_(["writing", "review"]))
        .order_by(col(Repair.updated_at).desc())
    )
    return session.exec(query).first()


def _private_draft_of_user(session: Session, user_id: int) -> Repair | None:
    """The repair this person is writing in private (the newest, across their couples)."""
    partner_ids = [partner.id for _couple, partner in couples_of_user(session, user_id)]
    query = (
        select(Repair)
        .where(col(Repair.partner_id).in_(partner_ids), Repair.state == "writing",
               col(Repair.private))
        .order_by(col(Repair.updated_at).desc())
    )
    return session.exec(query).first()


def _tag(repair: Repair) -> str:
    return f"{TAG}:{repair.id}:{repair.step}"


def _parse_tag(tag: str | None) -> tuple[int, str] | None:
    if not tag or not tag.startswith(TAG + ":"):
        return None
    parts = tag.split(":")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return int(parts[1]), parts[2]


# ---- what the author sees ---------------------------------------------------------------


def _to_author(repair: Repair) -> Target:
    return ToPartner(repair.partner_id) if repair.private else ToGroup(repair.couple_id)


def _other_name(session: Session, partner: Partner) -> str:
    other = other_partner(session, partner)
    return other.first_name if other is not None else ""


def _button(repair: Repair, label: str, action: str) -> Button:
    return buttons.button(text(f"repair.button_{label}"), KIND, repair.id or 0, action)


def _question(session: Session, repair: Repair, partner: Partner) -> Send:
    number = STEPS.index(repair.step) + 1
    body = text(f"repair.ask_{repair.step}", other=_other_name(session, partner),
                number=number, total=len(STEPS), plain=text("repair.need_plain"))
    if not repair.private:
        # A question in the group can only be answered by replying to it.
        return Send(ToGroup(repair.couple_id), text("repair.ask_in_group", question=body),
                    force_reply=True, tag=_tag(repair))
    rows: list[list[Button]] = []
    if repair.step == "need":
        rows.append([_button(repair, "plain_need", "plain")])
    rows.append([_button(repair, "cancel", "cancel")])
    return Send(ToPartner(repair.partner_id), body, buttons=keyboard(*rows), tag=_tag(repair))


def composed(session: Session, repair: Repair, partner: Partner) -> Text:
    """The message as the other partner will read it."""
    need: Text | str = repair.need or text("repair.need_plain")
    return text("repair.composed", author=partner.first_name,
                other=_other_name(session, partner), ownership=repair.ownership or "",
                impact=repair.impact or "", change=repair.change or "", need=need)


def _can_offer_promise(repair: Repair) -> bool:
    return hooks.promises_available() and not repair.promise_offered and bool(repair.change)


def _review_buttons(repair: Repair) -> Keyboard:
    rows = [[_button(repair, "post", "post")],
            [_button(repair, "edit", "edit"), _button(repair, "cancel", "cancel")]]
    if _can_offer_promise(repair):
        rows.append([_button(repair, "promise", "promise")])
    return keyboard(*rows)


def _review(session: Session, repair: Repair, partner: Partner) -> Send:
    body = text("repair.review", message=composed(session, repair, partner),
                other=_other_name(session, partner))
    return Send(_to_author(repair), body, buttons=_review_buttons(repair),
                tag=f"{TAG}:{repair.id}:review")


def _next_question_or_review(session: Session, repair: Repair, partner: Partner,
                             now: datetime) -> Effects:
    """After an answer: the next step, or the review when every part is there."""
    index = STEPS.index(repair.step)
    repair.updated_at = now
    if repair.editing or index == len(STEPS) - 1:
        repair.state, repair.editing = "review", False
        session.add(repair)
        return [_review(session, repair, partner)]
    repair.step = STEPS[index + 1]
    session.add(repair)
    return [_question(session, repair, partner)]


def _cancel(session: Session, repair: Repair, now: datetime) -> None:
    # A dropped draft is not kept: nothing of it was meant to be read.
    repair.state = "cancelled"
    repair.ownership = repair.impact = repair.change = repair.need = None
    repair.updated_at = now
    session.add(repair)


# ---- /repair -----------------------------------------------------------------------------


def start_repair(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/repair: start writing a repair message, or pick up the one in progress."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    current = active_repair(session, found.partner_id)
    here = ToChat(actor.chat_id)
    if is_word(args, "stop", found.partner.language):
        if current is None:
            return [Send(here, text("repair.nothing_to_cancel"))]
        _cancel(session, current, now)
        return [Send(here, text("repair.cancelled"))]
    if current is not None:
        step = STEPS.index(current.step) + 1 if current.state == "writing" else len(STEPS)
        return [Send(here, text("repair.in_progress", number=step, total=len(STEPS)),
                     buttons=keyboard([_button(current, "continue", "continue")],
                                      [_button(current, "start_over", "over"),
                                       _button(current, "cancel", "cancel")]))]
    return _opening(session, _new_repair(session, found.partner, now), found.partner, actor)


def _new_repair(session: Session, partner: Partner, now: datetime) -> Repair:
    """A fresh draft, asked privately when the author's private chat is open."""
    repair = Repair(couple_id=partner.couple_id, partner_id=partner.id or 0,
                    private=partner.private_open and not partner.private_blocked,
                    started_at=now, updated_at=now)
    session.add(repair)
    session.flush()
    return repair


def _opening(session: Session, repair: Repair, partner: Partner, actor: Actor) -> Effects:
    effects: Effects = []
    if repair.private:
        if not actor.in_private:
            effects.append(Send(ToChat(actor.chat_id),
                                text("repair.started_private", name=partner.first_name)))
        effects.append(Send(ToPartner(repair.partner_id), text("repair.intro_private",
                                                               other=_other_name(session,
                                                                                 partner))))
    else:
        link = Button(label=text("repair.button_open_private"),
                      url=deep_link(repair.couple_id))
        effects.append(Send(ToGroup(repair.couple_id),
                            text("repair.intro_group", name=partner.first_name,
                                 other=_other_name(session, partner)),
                            buttons=keyboard([link])))
    effects.append(_question(session, repair, partner))
    return effects


# ---- answers -----------------------------------------------------------------------------


@on_text
def answer(session: Session, actor: Actor, said: Said, now: datetime) -> Effects | None:
    """An answer to a repair question: by reply (group or private) or as private text."""
    tagged = _parse_tag(said.reply_to_tag)
    if tagged is not None:
        repair = session.get(Repair, tagged[0])
        partner = session.get(Partner, repair.partner_id) if repair is not None else None
        if repair is None or partner is None or partner.user_id != actor.user_id:
            return []  # someone else replied to the author's question: not theirs to answer
        if repair.state != "writing":
            return [Send(ToChat(actor.chat_id), text("repair.not_waiting"))]
        if tagged[1] != repair.step:
            # A reply to an earlier question: ask the current one again rather than guess.
            return [Send(ToChat(actor.chat_id), text("repair.answer_latest")),
                    _question(session, repair, partner)]
    elif actor.in_private and said.reply_to_tag is None:
        repair = _private_draft_of_user(session, actor.user_id)
        if repair is None:
            return None
        partner = session.get(Partner, repair.partner_id)
        if partner is None:
            return None
    else:
        return None
    return _take_answer(session, repair, partner, actor, said.text.strip(), now)


def _take_answer(session: Session, repair: Repair, partner: Partner, actor: Actor,
                 answer_text: str, now: datetime) -> Effects:
    if is_word(answer_text, "stop", partner.language):
        _cancel(session, repair, now)
        return [Send(ToChat(actor.chat_id), text("repair.cancelled"))]
    if not answer_text:
        return [_question(session, repair, partner)]
    if len(answer_text) > MAX_ANSWER:
        return [Send(ToChat(actor.chat_id), text("common.too_long", limit=MAX_ANSWER))]
    if repair.step == "need" and is_word(answer_text, "plain_need", partner.language):
        answer_text = ""
    setattr(repair, repair.step, answer_text)
    repair.updated_at = now
    if repair.step == "ownership" and not repair.hinted and explains_before_owning(answer_text,
                                                                          partner.language):
        repair.hinted = True
        session.add(repair)
        return [_hint(repair)]
    return _next_question_or_review(session, repair, partner, now)


def _hint(repair: Repair) -> Send:
    key = "repair.hint_private" if repair.private else "repair.hint_group"
    return Send(_to_author(repair), text(key),
                buttons=keyboard([_button(repair, "keep", "keep")],
                                 [_button(repair, "cancel", "cancel")]),
                tag=_tag(repair))


# ---- buttons -----------------------------------------------------------------------------

EDITABLE = {f"e_{step}": step for step in STEPS}


@on_press(KIND)
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
        _cancel(session, repair, now)
        return [EditOrigin(body=text("repair.cancelled"))]
    if action == "continue":
        resume = _review(session, repair, partner) if repair.state == "review" \
            else _question(session, repair, partner)
        return [EditOrigin(body=text("repair.continuing")), resume]
    if action == "over":
        _cancel(session, repair, now)
        fresh = _new_repair(session, partner, now)
        return [EditOrigin(body=text("repair.starting_over")),
                *_opening(session, fresh, partner, actor)]
    if repair.state == "writing":
        return _press_while_writing(session, repair, partner, action, now)
    return _press_in_review(session, repair, partner, action, now)


def _press_while_writing(session: Session, repair: Repair, partner: Partner, action: str,
                         now: datetime) -> Effects:
    if action == "keep" and repair.step == "ownership" and repair.ownership:
        return [EditOrigin(body=text("repair.kept")),
                *_next_question_or_review(session, repair, partner, now)]
    if action == "plain" and repair.step == "need":
        repair.need = ""
        return [EditOrigin(body=text("repair.plain_need_chosen")),
                *_next_question_or_review(session, repair, partner, now)]
    return buttons.expired()


def _press_in_review(session: Session, repair: Repair, partner: Partner, action: str,
                     now: datetime) -> Effects:
    if action == "post":
        return _post(session, repair, partner, now)
    if action == "edit":
        parts = [[_button(repair, f"edit_{step}", f"e_{step}")] for step in STEPS]
        parts.append([_button(repair, "back", "back")])
        return [EditOrigin(body=text("repair.edit_which"), buttons=keyboard(*parts))]
    if action == "back":
        review = _review(session, repair, partner)
        return [EditOrigin(body=review.body, buttons=review.buttons)]
    if action in EDITABLE:
        repair.state, repair.step, repair.editing = "writing", EDITABLE[action], True
        repair.updated_at = now
        session.add(repair)
        return [EditOrigin(body=text("repair.editing")), _question(session, repair, partner)]
    return buttons.expired()


def _post(session: Session, repair: Repair, partner: Partner, now: datetime) -> Effects:
    other = other_partner(session, partner)
    if other is None:
        return [Notice(text("repair.nobody_to_post"), alert=True)]
    repair.state, repair.posted_at, repair.updated_at = "posted", now, now
    session.add(repair)
    done: Keyboard = ()
    key = "repair.posted_author"
    if _can_offer_promise(repair):
        done = keyboard([_button(repair, "promise", "promise")])
        key = "repair.posted_author_promise"
    return [
        Notice(text("repair.posted_notice")),
        EditOrigin(body=text(key, other=other.first_name), buttons=done),
        Send(ToGroup(repair.couple_id), text("repair.posted_group", other=other.first_name,
                                             message=composed(session, repair, partner))),
    ]


def _press_promise(session: Session, repair: Repair, partner: Partner,
                   now: datetime) -> Effects:
    """ "Make it a promise": the "next time" answer goes to the promises feature."""
    if repair.state not in {"review", "posted"} or not _can_offer_promise(repair):
        return buttons.expired()
    repair.promise_offered = True
    repair.updated_at = now
    session.add(repair)
    if repair.state == "review":
        remaining = EditOrigin(buttons=_review_buttons(repair))
    else:
        remaining = EditOrigin(buttons=())
    return [remaining, *hooks.offer_promise(session, partner, repair.change or "", now)]


# ---- leaving -----------------------------------------------------------------------------


def _drop_drafts_on_leave(session: Session, couple: Couple, partner: Partner,
                          now: datetime) -> Effects:
    """A partner who leaves has no repair to finish; their unposted draft is dropped."""
    draft = active_repair(session, partner.id or 0)
    if draft is not None:
        _cancel(session, draft, now)
    return []


ON_LEAVE.append(_drop_drafts_on_leave)
