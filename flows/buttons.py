"""Button payloads: small, versioned, and checked against the database when pressed.

`v1|<kind>|<id>|<action>` stays well under Telegram's 64-byte limit. A press whose
payload does not parse, names an unknown kind, or points at something no longer
pending gets a kind "this button has expired" and changes nothing; someone outside the
couple pressing one of its buttons in the group is told whose it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from flows.couples import Actor, couple_for_chat, partner_of_user, partners_of
from flows.feature import installed
from flows.outcome import Button, Effects, Notice, Text

VERSION = "v1"
MAX_BYTES = 64


@dataclass(frozen=True)
class Press:
    """A parsed button press."""

    kind: str
    target_id: int
    action: str


def data(kind: str, target_id: int, action: str) -> str:
    payload = f"{VERSION}|{kind}|{target_id}|{action}"
    if len(payload.encode()) > MAX_BYTES:
        raise ValueError(f"button payload too long: {kind}/{action}")
    return payload


def button(label: Text, kind: str, target_id: int, action: str) -> Button:
    return Button(label=label, data=data(kind, target_id, action))


def parse(raw: str | None) -> Press | None:
    if not raw or len(raw.encode()) > MAX_BYTES:
        return None
    parts = raw.split("|")
    if len(parts) != 4 or parts[0] != VERSION:
        return None
    _, kind, target, action = parts
    if not target.lstrip("-").isdigit() or not kind or not action:
        return None
    return Press(kind=kind, target_id=int(target), action=action)


# What a press of one kind does; each feature names its kinds in its `FEATURE.buttons`.
ButtonHandler = Callable[[Session, Actor, Press, datetime], Effects]


def expired() -> Effects:
    return [Notice(Text("common.button_expired"))]


def handle_press(session: Session, actor: Actor, raw: str | None, now: datetime) -> Effects:
    press = parse(raw)
    features = installed()
    if press is None or press.kind not in features.buttons:
        return expired()
    # Kinds anyone in the group may press ("I'm in", before there is a couple) are a
    # feature's `open_buttons`.
    if not actor.in_private and press.kind not in features.open_buttons:
        stranger = _for_the_couple(session, actor)
        if stranger is not None:
            return stranger
    return features.buttons[press.kind](session, actor, press, now)


def _for_the_couple(session: Session, actor: Actor) -> Effects | None:
    """Someone who is not one of the couple pressed one of their buttons in the group: it is
    still live for the two of them, so say whose it is (not that it has expired)."""
    couple = couple_for_chat(session, actor.chat_id)
    if couple is None or couple.formed_at is None:
        return None
    if partner_of_user(session, couple.id or 0, actor.user_id) is not None:
        return None
    names = [partner.first_name for partner in partners_of(session, couple.id or 0)]
    if len(names) < 2:
        return None
    return [Notice(Text("common.button_for_couple", {"a": names[0], "b": names[1]}), alert=True)]
