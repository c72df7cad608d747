"""The outbox side of carrying out a flow's effects, in the flow's own transaction.

`persist` turns what a flow returned into rows: timers stored or cancelled, messages
rendered into outbox rows (split when too long, addressed to the group or a private
chat, held or waiting where they cannot go yet), edits of a pressed or tagged message,
and the delivery effects (`ReleaseHeld`, `MoveChat`, `ForgetMessages`, ...). Sending
those rows is `bot/delivery/sender.py`'s job, after the commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event, inspect, update
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from bot.delivery.chats import move_chat, release_held
from bot.delivery.forget import forget_messages, forget_partner_messages
from bot.delivery.models import Outbox, OutboxKind, OutboxState
from bot.delivery.timers import cancel_timers, store_timer
from bot.texts import render, render_keyboard
from flows.couples import in_another_couple, language_of_chat
from flows.models import Couple, Partner
from flows.onboarding import deep_link
from flows.outcome import (
    Button,
    CancelTimers,
    EditOrigin,
    EditTagged,
    Effects,
    ForgetMessages,
    ForgetPartnerMessages,
    MoveChat,
    ReleaseHeld,
    Send,
    SetTimer,
    Target,
    Text,
    ToGroup,
    ToPartner,
    fallback_for,
    keyboard,
    private_only,
)

TELEGRAM_TEXT_LIMIT = 4096


@dataclass
class Committed:
    """What a transaction left for after its commit."""

    effects: Effects
    # The messages to send now, as written (not read back: that would cost a query).
    rows: list[Outbox] = field(default_factory=list)
    earliest_timer: datetime | None = None
    # A private chat opened: messages that waited for it can go now.
    released: bool = False


def split_long(body: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Split text over Telegram's limit at line breaks (or hard, for one huge line)."""
    if len(body) <= limit:
        return [body]
    parts: list[str] = []
    current = ""
    for line in body.splitlines(keepends=True):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            parts.append(current)
            current = ""
        current += line
    if current:
        parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def persist(
    session: Session,
    effects: Effects,
    now: datetime,
    *,
    claim: bool,
    late: bool = False,
    origin: tuple[int, int] | None = None,
) -> Committed:
    """Store the timers and outbox rows a flow asked for, in the flow's transaction.

    `origin` (chat id, message id) is the message whose button was pressed: an
    `EditOrigin` becomes an outbox row that edits it, in order with the chat's messages.
    """
    committed = Committed(effects)
    rows: list[Outbox] = []
    for effect in effects:
        if isinstance(effect, EditOrigin):
            if origin is not None:
                rows.append(_edit_row(session, effect, origin, now, claim=claim))
        elif isinstance(effect, SetTimer):
            store_timer(session, effect, now)
            if committed.earliest_timer is None or effect.due_at < committed.earliest_timer:
                committed.earliest_timer = effect.due_at
        elif isinstance(effect, CancelTimers):
            cancel_timers(session, effect, now)
        elif isinstance(effect, Send):
            rows.extend(_outbox_rows(session, effect, now, claim=claim, late=late))
        elif isinstance(effect, ReleaseHeld):
            release_held(session, effect.chat_id)
        elif isinstance(effect, MoveChat):
            move_chat(session, effect.old_chat_id, effect.new_chat_id)
        elif isinstance(effect, ForgetMessages):
            forget_messages(session, effect)
        elif isinstance(effect, ForgetPartnerMessages):
            forget_partner_messages(session, effect)
        elif isinstance(effect, EditTagged):
            rows.extend(_tidy_rows(session, effect, now, claim=claim, written=rows))
    session.flush()
    committed.rows = [row for row in rows if row.state not in {"held", "waiting"}]
    committed.released = bool(session.info.pop(RELEASED, False))
    return committed


def _edit_row(
    session: Session, edit: EditOrigin, origin: tuple[int, int], now: datetime, *, claim: bool
) -> Outbox:
    # The pressed message is in its chat's language (read after the flow: /language's own
    # button edits its message in the language just chosen).
    language = language_of_chat(session, origin[0]) or "en"
    markup = (
        json.dumps({"inline_keyboard": render_keyboard(edit.buttons, language)})
        if edit.buttons
        else None
    )
    row = Outbox(
        chat_id=origin[0],
        message_id=origin[1],
        kind=OutboxKind.EDIT_TEXT if edit.body is not None else OutboxKind.EDIT_MARKUP,
        body=render(edit.body, language) if edit.body is not None else "",
        markup=markup,
        state=OutboxState.SENDING if claim else OutboxState.PENDING,
        claimed_at=now if claim else None,
        created_at=now,
    )
    session.add(row)
    return row


# States of a message not handed to Telegram yet: it can still be changed where it waits.
NOT_YET_SENT = ("pending", "held", "waiting")


def _tidy_rows(
    session: Session, edit: EditTagged, now: datetime, *, claim: bool, written: list[Outbox]
) -> list[Outbox]:
    """The newest message with `edit.tag` sent to `edit.to`, made tidy: changed where it
    still waits, or edited by a new outbox row once Telegram has it. Returns new rows."""
    couple, partner, chats = _chats_of(session, edit.to)
    if not chats:
        return []
    to_partner_id = partner.id if partner is not None else None
    # Tidying is about live buttons: a reply prompt that shares the question's tag (the
    # zone question's "Which city?") is not the message meant. A message older than three
    # days has had its text and buttons erased (`purge_delivered`) and is left alone.
    found = session.exec(
        select(Outbox)
        .where(
            col(Outbox.chat_id).in_(chats),
            col(Outbox.tag) == edit.tag,
            col(Outbox.kind) == "send",
            col(Outbox.markup).contains("inline_keyboard"),
        )
        .order_by(col(Outbox.id).desc())
        .limit(1)
    ).first()
    if found is None or found.state == "failed":
        return []  # never sent (or refused): nothing on screen to tidy
    language = partner.language if partner is not None else None
    if language is None:
        language = couple.language if couple is not None else None
    language = language or language_of_chat(session, found.chat_id) or "en"
    body = None
    if edit.body is not None:
        prefix: list[str] = []
        # Written to the partner in the group because their private chat was not open: it
        # said "For Ana:", and its one line does too (an answer to someone's command there
        # was not addressed, and is not).
        addressed = found.partner_id is not None and found.partner_id == to_partner_id
        if (
            partner is not None
            and couple is not None
            and found.chat_id == couple.group_chat_id
            and addressed
        ):
            prefix.append(
                render(Text("common.for_partner", {"name": partner.first_name}), language)
            )
        body = "\n".join([*prefix, render(edit.body, language)])
    markup = (
        json.dumps({"inline_keyboard": render_keyboard(edit.buttons, language)})
        if edit.buttons
        else None
    )
    if any(row is found for row in written) or found.state in NOT_YET_SENT:
        # Not on anyone's screen yet: it goes out already tidy.
        changes: dict[str, Any] = {"markup": markup}
        if body is not None:
            changes["body"] = body
        if any(row is found for row in written):
            for name, value in changes.items():
                setattr(found, name, value)
            return []
        # Another process may claim it this very moment: change it only while it still waits.
        changed = session.execute(
            update(Outbox)
            .where(col(Outbox.id) == found.id, col(Outbox.state).in_(NOT_YET_SENT))
            .values(**changes)
        )
        if changed.rowcount == 1:  # type: ignore[attr-defined]
            session.expire(found)
            return []
    if found.state == "sent" and _already(session, found, body, markup):
        return []
    held = (
        couple is not None and not couple.group_reachable and found.chat_id == couple.group_chat_id
    )
    state = OutboxState.HELD if held else OutboxState.SENDING if claim else OutboxState.PENDING
    row = Outbox(
        chat_id=found.chat_id,
        # Known once Telegram accepted the message; one still on its way is looked up by its
        # tag when this edit goes out, after it in the chat's order (`_edit_one`).
        message_id=found.message_id if found.state == "sent" else None,
        tag=None if found.state == "sent" else edit.tag,
        kind=OutboxKind.EDIT_TEXT if body is not None else OutboxKind.EDIT_MARKUP,
        body=body or "",
        markup=markup,
        key=edit.body.key if edit.body is not None else found.key,
        state=state,
        claimed_at=now if state == "sending" else None,
        attempts=1 if state == "sending" else 0,
        created_at=now,
    )
    session.add(row)
    return [row]


def _already(session: Session, found: Outbox, body: str | None, markup: str | None) -> bool:
    """The message's latest edit (a pressed button's, an earlier tidying) already left it
    as wanted: no second edit, which would only cost the chat's rate limit."""
    latest = session.exec(
        select(Outbox)
        .where(
            col(Outbox.chat_id) == found.chat_id,
            col(Outbox.message_id) == found.message_id,
            col(Outbox.kind) != "send",
            col(Outbox.state) != "failed",
        )
        .order_by(col(Outbox.id).desc())
        .limit(1)
    ).first()
    if latest is None or latest.markup != markup:
        return False
    return body is None or (latest.kind == "edit_text" and latest.body == body)


def _chats_of(session: Session, to: Target) -> tuple[Couple | None, Partner | None, list[int]]:
    """Where a message to `to` may have gone: a partner's private chat, or the group
    ("For Ana: …") while it was not open."""
    if isinstance(to, ToGroup):
        couple = session.get(Couple, to.couple_id)
        return couple, None, [couple.group_chat_id] if couple is not None else []
    if isinstance(to, ToPartner):
        partner = session.get(Partner, to.partner_id)
        couple = session.get(Couple, partner.couple_id) if partner is not None else None
        if partner is None or couple is None:
            return None, None, []
        return couple, partner, [partner.user_id, couple.group_chat_id]
    return None, None, [to.chat_id]


def _outbox_rows(
    session: Session, send: Send, now: datetime, *, claim: bool, late: bool
) -> list[Outbox]:
    couple: Couple | None = None
    partner: Partner | None = None
    language = "en"
    prefix: list[str] = []
    waiting = False
    if isinstance(send.to, ToGroup):
        couple = session.get(Couple, send.to.couple_id)
        if couple is None:
            return []
        chat_id, language = couple.group_chat_id, couple.language
    elif isinstance(send.to, ToPartner):
        partner = session.get(Partner, send.to.partner_id)
        if partner is None:
            return []
        couple = session.get(Couple, partner.couple_id)
        if couple is None:
            return []
        language = partner.language
        reachable = partner.private_open and not partner.private_blocked
        waiting = not reachable and private_only(send)
        if reachable or waiting:
            chat_id = partner.user_id
            if in_another_couple(session, partner.user_id, couple.id or 0):
                prefix.append(
                    render(Text("common.about_couple", {"title": couple.title}), language)
                )
        else:
            chat_id = couple.group_chat_id
            prefix.append(
                render(Text("common.for_partner", {"name": partner.first_name}), language)
            )
    else:
        chat_id = send.to.chat_id
        language = send.to.language or language_of_chat(session, chat_id) or language
    if late:
        prefix.append(render(Text("common.late_note"), language))
    body = "\n".join([*prefix, render(send.body, language)])
    markup: str | None = None
    if send.buttons:
        markup = json.dumps({"inline_keyboard": render_keyboard(send.buttons, language)})
    elif send.force_reply:
        markup = json.dumps({"force_reply": True})
    held = couple is not None and not couple.group_reachable and chat_id == couple.group_chat_id
    rows: list[Outbox] = []
    if waiting and couple is not None and partner is not None:
        rows.extend(_tell_group_something_waits(session, couple, partner, now, claim=claim))
    fallback = fallback_for(send)
    state = (
        OutboxState.WAITING
        if waiting
        else OutboxState.HELD
        if held
        else OutboxState.SENDING
        if claim
        else OutboxState.PENDING
    )
    parts = split_long(body)
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        row = Outbox(
            couple_id=couple.id if couple else None,
            partner_id=partner.id if partner else None,
            chat_id=chat_id,
            body=part,
            markup=markup if last else None,
            tag=send.tag if last else None,
            key=send.body.key,
            private_only=waiting or (partner is not None and private_only(send)),
            fallback=render(fallback, language) if fallback is not None and last else None,
            state=state,
            claimed_at=now if state == "sending" else None,
            attempts=1 if state == "sending" else 0,
            created_at=now,
        )
        session.add(row)
        rows.append(row)
    return rows


def _tell_group_something_waits(
    session: Session, couple: Couple, partner: Partner, now: datetime, *, claim: bool
) -> list[Outbox]:
    """One neutral line in the group while a partner's private messages wait, not one per
    message: the group learns that something waits, never what."""
    already = session.exec(
        select(Outbox.id)
        .where(col(Outbox.partner_id) == partner.id, col(Outbox.state) == "waiting")
        .limit(1)
    ).first()
    if already is not None:
        return []
    language = couple.language
    link = Button(label=Text("delivery.button_open_private"), url=deep_link(couple.id or 0))
    state = (
        OutboxState.HELD
        if not couple.group_reachable
        else OutboxState.SENDING
        if claim
        else OutboxState.PENDING
    )
    row = Outbox(
        couple_id=couple.id,
        partner_id=partner.id,
        chat_id=couple.group_chat_id,
        body=render(Text("delivery.private_waiting", {"name": partner.first_name}), language),
        markup=json.dumps({"inline_keyboard": render_keyboard(keyboard([link]), language)}),
        key="delivery.private_waiting",
        state=state,
        claimed_at=now if state == "sending" else None,
        attempts=1 if state == "sending" else 0,
        created_at=now,
    )
    session.add(row)
    return [row]


# Set in a session's `info` when a flush opened a partner's private chat.
RELEASED = "mend_released_waiting"


@event.listens_for(OrmSession, "before_flush")
def _release_waiting(session: OrmSession, _context: Any, _instances: Any) -> None:
    """A partner opened (or unblocked) their private chat: what waited for it goes out.

    Watching the flush rather than asking each flow to say so keeps the outbox the
    delivery layer's own (architecture.md): onboarding only marks the chat open.
    """
    for obj in session.dirty:
        if not isinstance(obj, Partner) or not obj.private_open or obj.private_blocked:
            continue
        attrs = inspect(obj).attrs
        if not (
            attrs.private_open.history.has_changes() or attrs.private_blocked.history.has_changes()
        ):
            continue
        result = session.connection().execute(
            update(Outbox)
            .where(col(Outbox.partner_id) == obj.id, col(Outbox.state) == "waiting")
            .values(state="pending", claimed_at=None)
        )
        if result.rowcount:
            session.info[RELEASED] = True
