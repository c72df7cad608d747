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
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Field, Session, SQLModel, col, select

from flows import buttons, hooks, hurt, pause
from flows.buttons import Press
from flows.couples import (
    Actor,
    Membership,
    couples_of_user,
    guard,
    other_partner,
    partner_of_user,
)
from flows.feature import Feature
from flows.inputs import Said, step_tag
from flows.models import Couple, Partner, secret_text, utc_column
from flows.onboarding import deep_link
from flows.outcome import (
    Button,
    EditOrigin,
    EditTagged,
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
CHOOSE = "rpc"  # apologise or say what hurt; target: the partner who sent /repair
ANSWER = "rpa"  # the receiver's answer under a posted repair; target: the repair
ANSWERS = ("thanks", "time", "talk")
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
    # The message opens with "I'm sorry." unless the author removes it (or wrote their own).
    with_sorry: bool = True
    # The other partner's note, shown at the impact step when they chose to share it.
    hurt_note_id: int | None = None
    # The receiver's one-tap answer (one of ANSWERS), if they gave one.
    answer: str | None = None
    answered_at: datetime | None = utc_column(nullable=True)

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


_SAYS_SORRY = re.compile(r"\b(?:sorry|apologi[sz]e)\b", re.IGNORECASE)


def says_sorry(answer: str) -> bool:
    """The author already wrote their own "sorry": Mend does not add a second one."""
    return bool(_SAYS_SORRY.search(answer))


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
        .where(
            col(Repair.partner_id).in_(partner_ids), Repair.state == "writing", col(Repair.private)
        )
        .order_by(col(Repair.updated_at).desc())
    )
    return session.exec(query).first()


def _tag(repair: Repair) -> str:
    return f"{TAG}:{repair.id}:{repair.step}"


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
    other = _other_name(session, partner)
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
            tag=_tag(repair),
        )
    rows: list[list[Button]] = []
    if repair.step == "need":
        rows.append([_button(repair, "plain_need", "plain")])
    rows.append([_button(repair, "cancel", "cancel")])
    return Send(ToPartner(repair.partner_id), body, buttons=keyboard(*rows), tag=_tag(repair))


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
        other=_other_name(session, partner),
        ownership=ownership,
        impact=repair.impact or "",
        change=repair.change or "",
        need=need,
    )


def _can_offer_promise(repair: Repair) -> bool:
    return hooks.promises_available() and not repair.promise_offered and bool(repair.change)


def _review_buttons(repair: Repair) -> Keyboard:
    sorry = _button(repair, "sorry_remove" if repair.with_sorry else "sorry_add", "sorry")
    rows = [
        [_button(repair, "post", "post")],
        [sorry],
        [_button(repair, "edit", "edit"), _button(repair, "cancel", "cancel")],
    ]
    if _can_offer_promise(repair):
        rows.append([_button(repair, "promise", "promise")])
    return keyboard(*rows)


def _review(session: Session, repair: Repair, partner: Partner) -> Send:
    body = text(
        "repair.review",
        message=composed(session, repair, partner),
        other=_other_name(session, partner),
    )
    return Send(
        _to_author(repair), body, buttons=_review_buttons(repair), tag=f"{TAG}:{repair.id}:review"
    )


def _next_question_or_review(
    session: Session, repair: Repair, partner: Partner, now: datetime
) -> Effects:
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


def _cancelled_by_typing(repair: Repair) -> Effects:
    """Stopped by typing (not by its Cancel button): the question or review it waited on
    becomes one line without buttons. Read before `_cancel` changes the row."""
    waiting_on = f"{TAG}:{repair.id}:review" if repair.state == "review" else _tag(repair)
    return [EditTagged(_to_author(repair), waiting_on, text("repair.cancelled"))]


def _cancel(session: Session, repair: Repair, now: datetime) -> None:
    # A dropped draft is not kept: nothing of it was meant to be read.
    repair.state = "cancelled"
    repair.hurt_note_id = None
    repair.ownership = repair.impact = repair.change = repair.need = None
    repair.updated_at = now
    session.add(repair)


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
            _cancel(session, current, now)
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
        step = STEPS.index(current.step) + 1 if current.state == "writing" else len(STEPS)
        return [
            Send(
                here,
                text("repair.in_progress", number=step, total=len(STEPS)),
                buttons=keyboard(
                    [_button(current, "continue", "continue")],
                    [_button(current, "start_over", "over"), _button(current, "cancel", "cancel")],
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
    other = _other_name(session, partner)
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
                text("repair.intro_private", other=_other_name(session, partner)),
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
                    other=_other_name(session, partner),
                ),
                buttons=keyboard([link]),
            )
        )
    effects.append(_question(session, repair, partner))
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
        if repair.state != "writing":
            return [Send(ToChat(actor.chat_id), text("repair.not_waiting"))]
        if tagged[1] != repair.step:
            # A reply to an earlier question: ask the current one again rather than guess.
            return [
                Send(ToChat(actor.chat_id), text("repair.answer_latest")),
                _question(session, repair, partner),
            ]
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
        _cancel(session, repair, now)
        return [*tidy, Send(ToChat(actor.chat_id), text("repair.cancelled"))]
    if not answer_text:
        return [_question(session, repair, partner)]
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
        return [_hint(repair)]
    return _next_question_or_review(session, repair, partner, now)


def _hint(repair: Repair) -> Send:
    key = "repair.hint_private" if repair.private else "repair.hint_group"
    return Send(
        _to_author(repair),
        text(key),
        buttons=keyboard([_button(repair, "keep", "keep")], [_button(repair, "cancel", "cancel")]),
        tag=_tag(repair),
    )


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
        _cancel(session, repair, now)
        return [EditOrigin(body=text("repair.cancelled"))]
    if action == "continue":
        resume = (
            _review(session, repair, partner)
            if repair.state == "review"
            else _question(session, repair, partner)
        )
        return [EditOrigin(body=text("repair.continuing")), resume]
    if action == "over":
        _cancel(session, repair, now)
        return [EditOrigin(body=text("repair.starting_over")), *_choose(session, partner, actor)]
    if repair.state == "writing":
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
        review = _review(session, repair, partner)
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
    couple = session.get(Couple, repair.couple_id)
    # Others in the group (flows/members.py): the repair goes to the other's private chat,
    # and waits while they have none.
    privately = couple is not None and couple.others_present
    if privately and not (other.private_open and not other.private_blocked):
        return [Notice(text("repair.others_present_wait", other=other.first_name), alert=True)]
    repair.state, repair.posted_at, repair.updated_at = "posted", now, now
    session.add(repair)
    hurt.mark_answered(session, repair.hurt_note_id, now)
    done: Keyboard = ()
    key = "repair.posted_author"
    if _can_offer_promise(repair):
        done = keyboard([_button(repair, "promise", "promise")])
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
                message=composed(session, repair, partner),
            ),
            buttons=_answer_buttons(repair),
        ),
    ]


# ---- the receiver's answer ---------------------------------------------------------------


def _answer_buttons(repair: Repair) -> Keyboard:
    return keyboard(
        *[
            [buttons.button(text(f"repair.button_answer_{choice}"), ANSWER, repair.id or 0, choice)]
            for choice in ANSWERS
        ]
    )


def press_answer(session: Session, actor: Actor, pressed: Press, now: datetime) -> Effects:
    """Thank you / I need some time / can we talk tonight?: the author hears it privately.

    Answering is a choice, never a duty: nothing reminds the receiver, nothing counts it.
    """
    repair = session.get(Repair, pressed.target_id)
    couple = session.get(Couple, repair.couple_id) if repair is not None else None
    if (
        repair is None
        or couple is None
        or repair.state != "posted"
        or not (actor.chat_id == couple.group_chat_id or actor.in_private)
        or pressed.action not in ANSWERS
    ):
        return buttons.expired()
    receiver = partner_of_user(session, couple.id or 0, actor.user_id)
    author = session.get(Partner, repair.partner_id)
    if receiver is None or author is None:
        return buttons.expired()
    if receiver.id == author.id:
        other = other_partner(session, author)
        return [Notice(text("repair.answer_is_for_other", other=other.first_name if other else ""))]
    if repair.answer is not None:
        return [EditOrigin(buttons=()), *buttons.expired()]
    repair.answer, repair.answered_at, repair.updated_at = pressed.action, now, now
    session.add(repair)
    effects: Effects = [
        Notice(text("repair.answer_sent_notice", name=author.first_name)),
        EditOrigin(buttons=()),
        Send(
            ToPartner(author.id or 0),
            text(f"repair.answered_{pressed.action}", name=receiver.first_name),
        ),
    ]
    if pressed.action == "time" and pause.active_pause(session, couple.id or 0) is None:
        # Time is easier to give with a return time: the usual pause, agreed as usual.
        effects.append(
            Send(
                ToPartner(receiver.id or 0),
                text("repair.time_offer_pause", name=author.first_name),
                buttons=pause.duration_buttons(couple.id or 0),
            )
        )
    return effects


def _press_promise(session: Session, repair: Repair, partner: Partner, now: datetime) -> Effects:
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


def _drop_drafts_on_leave(
    session: Session, couple: Couple, partner: Partner, now: datetime
) -> Effects:
    """A partner who leaves has no repair to finish; their unposted draft is dropped."""
    draft = active_repair(session, partner.id or 0)
    if draft is not None:
        _cancel(session, draft, now)
    return []


FEATURE = Feature(
    name="repair",
    commands={"repair": start_repair},
    buttons={CHOOSE: press_choose, KIND: press, ANSWER: press_answer},
    on_text=(answer,),
    on_leave=(_drop_drafts_on_leave,),
)
