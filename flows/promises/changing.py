"""Changing and ending a promise: new words, a new "when", keep it as it is, or /drop.

The change menu comes from the list, from "kept?" and after a few misses in a row; the
promiser changes their own promise only.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from flows import buttons
from flows.buttons import Press
from flows.couples import (
    Actor,
    Membership,
    guard,
)
from flows.inputs import Said
from flows.models import Partner
from flows.outcome import (
    EditOrigin,
    Effects,
    Notice,
    Send,
    ToChat,
    ToPartner,
    keyboard,
    text,
)
from flows.promises import wording
from flows.promises.model import (
    CHANGE,
    MAX_WHAT,
    WORDS_WINDOW,
    Promise,
    PromiseState,
    active_promises,
    couple_chats,
    end_promise,
    promiser_pressing,
)


def press_change(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """The change menu: new wording, new schedule, keep as is, or drop."""
    promise = session.get(Promise, press.target_id)
    if promise is None or press.action not in {"menu", "words", "when", "keep", "drop"}:
        return buttons.expired()
    owner = promiser_pressing(session, actor, promise)
    if owner is None:
        if promise.state == PromiseState.ACTIVE and actor.chat_id in couple_chats(session, promise):
            return wording.not_yours(session, promise)
        return buttons.expired()
    _couple, partner = owner
    if promise.state != PromiseState.ACTIVE:
        return buttons.expired()
    if press.action == "menu":
        return [Notice(text("promises.change_notice")), wording.change_menu(partner, promise)]
    if press.action == "drop":
        effects = end_promise(promise, now)
        session.add(promise)
        return [
            *effects,
            EditOrigin(
                body=text("promises.dropped", number=promise.number, what=wording.quoted(promise))
            ),
        ]
    if press.action == "keep":
        promise.misses_in_row = 0
        promise.editing, promise.editing_since = None, None
        session.add(promise)
        return [EditOrigin(body=text("promises.kept_as_is", what=wording.quoted(promise)))]
    promise.editing, promise.editing_since = press.action, now
    session.add(promise)
    if press.action == "when":
        return [
            EditOrigin(
                body=text("promises.ask_new_when", what=wording.quoted(promise)),
                buttons=wording.when_keyboard(promise.id or 0),
            )
        ]
    return [
        EditOrigin(body=text("promises.change_words_started", number=promise.number)),
        Send(
            ToPartner(partner.id or 0),
            text("promises.ask_words", what=wording.quoted(promise), limit=MAX_WHAT),
            force_reply=True,
            tag=f"promises:{promise.id}:words",
        ),
    ]


def new_words(session: Session, actor: Actor, said: Said, now: datetime) -> Effects | None:
    """New wording for a promise: a reply to the bot's question, or (in private) the next
    message soon after "Change the words"."""
    reply = ToChat(actor.chat_id)
    tag = said.reply_to_tag or ""
    promise: Promise | None = None
    if tag.startswith("promises:") and tag.endswith(":words"):
        middle = tag.split(":")[1]
        promise = session.get(Promise, int(middle)) if middle.isdigit() else None
        if promise is None or promise.state != PromiseState.ACTIVE or promise.editing != "words":
            return [Send(reply, text("promises.words_stale"))]
    elif actor.in_private and not tag:
        query = (
            select(Promise)
            .join(Partner, col(Partner.id) == col(Promise.partner_id))
            .where(
                Partner.user_id == actor.user_id,
                Promise.state == PromiseState.ACTIVE,
                Promise.editing == "words",
                col(Promise.editing_since) >= now - WORDS_WINDOW,
            )
            .order_by(col(Promise.editing_since).desc())
        )
        promise = session.exec(query).first()
        if promise is None:
            return None
    else:
        return None
    if promiser_pressing(session, actor, promise) is None:
        # Someone else replied to the question: not theirs to change.
        return [Send(reply, wording.not_yours_text(session, promise))]
    cleaned = " ".join(said.text.split())
    if not cleaned:
        return [
            Send(reply, text("promises.ask_words", what=wording.quoted(promise), limit=MAX_WHAT))
        ]
    if len(cleaned) > MAX_WHAT:
        return [Send(reply, text("common.too_long", limit=MAX_WHAT))]
    promise.what = cleaned
    promise.editing, promise.editing_since = None, None
    session.add(promise)
    return [
        Send(
            reply,
            text("promises.words_changed", number=promise.number, what=wording.quoted(promise)),
        )
    ]


def drop(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/drop N: ends one of your promises; its history stays."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    reply = ToChat(actor.chat_id)
    raw = args.strip().lstrip("#")
    if not raw:
        own = active_promises(session, found.couple_id, found.partner_id)
        if not own:
            return [Send(reply, text("promises.drop_none"))]
        choices = [
            [
                buttons.button(
                    text(
                        "promises.button_drop_number",
                        number=promise.number,
                        what=wording.short(promise.what),
                    ),
                    CHANGE,
                    promise.id or 0,
                    "drop",
                )
            ]
            for promise in own
        ]
        return [Send(reply, text("promises.drop_choose"), buttons=keyboard(*choices))]
    if not raw.isdigit():
        return [Send(reply, text("promises.drop_usage"))]
    promise = session.exec(
        select(Promise).where(
            Promise.couple_id == found.couple_id,
            Promise.number == int(raw),
            Promise.state == PromiseState.ACTIVE,
        )
    ).first()
    if promise is None:
        return [Send(reply, text("promises.drop_unknown", number=int(raw)))]
    if promise.partner_id != found.partner_id:
        return [Send(reply, wording.not_yours_text(session, promise))]
    effects = end_promise(promise, now)
    session.add(promise)
    return [
        *effects,
        Send(reply, text("promises.dropped", number=promise.number, what=wording.quoted(promise))),
    ]
