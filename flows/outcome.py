"""What a flow returns: plain data describing what should happen next.

Flows never talk to Telegram. They change rows in the session they are given and
return effects; the shell (`bot/`) commits both in one transaction and then
carries the effects out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock_time
from typing import Any


@dataclass(frozen=True)
class Text:
    """A sentence from the catalogue: a key and the values it needs.

    Values may themselves be `Text` (rendered in the reader's language first).
    """

    key: str
    values: Mapping[str, Any] = field(default_factory=dict)


def text(key: str, **values: Any) -> Text:
    return Text(key, values)


# Values that only the reader's language can word: the catalogue layer formats them with
# Babel (dates, times, weekday names, plurals), so flows never build a date string.


@dataclass(frozen=True)
class Moment:
    """A point in time as read in `zone` (an IANA name): its time, its date, or both."""

    at: datetime
    zone: str
    show: str = "datetime"  # "time" | "date" | "datetime"


@dataclass(frozen=True)
class ClockTime:
    """A time of day on no particular date ("19:00", or "7:00 PM" where that is usual)."""

    at: clock_time


@dataclass(frozen=True)
class Day:
    """A calendar date, short: "Sun 29 Nov", "So., 29. Nov."."""

    on: date


@dataclass(frozen=True)
class Weekday:
    """A weekday's name (Monday is 0): "Sunday", "Sonntag"."""

    index: int


@dataclass(frozen=True)
class Length:
    """A span of whole minutes in words: "45 minutes", "two hours", "zwei Stunden"."""

    minutes: int


@dataclass(frozen=True)
class Button:
    """An inline button: either a callback (`data`) or a link (`url`)."""

    label: Text
    data: str | None = None
    url: str | None = None


Keyboard = tuple[tuple[Button, ...], ...]


def keyboard(*rows: list[Button] | tuple[Button, ...]) -> Keyboard:
    return tuple(tuple(row) for row in rows)


@dataclass(frozen=True)
class ToGroup:
    """The couple's group chat."""

    couple_id: int


@dataclass(frozen=True)
class ToPartner:
    """A partner's private chat when they opened it, otherwise the group, addressed to them."""

    partner_id: int


@dataclass(frozen=True)
class ToChat:
    """A chat by id: for answers before a couple exists (a stranger, a new group).

    Written in `language` when given (someone Mend does not know yet), otherwise in the
    language of the group's couple or of the person whose private chat it is."""

    chat_id: int
    language: str | None = None


Target = ToGroup | ToPartner | ToChat


@dataclass(frozen=True)
class Send:
    """A new message. `tag` names it so a later reply to it can be recognised, or (a
    `tidy_tag`) only so that `EditTagged` can find it once its step is done."""

    to: Target
    body: Text
    buttons: Keyboard = ()
    force_reply: bool = False
    tag: str | None = None


@dataclass(frozen=True)
class EditOrigin:
    """Change the message whose button was pressed (text and/or buttons)."""

    body: Text | None = None
    buttons: Keyboard = ()


@dataclass(frozen=True)
class EditTagged:
    """Tidy a step's message once the step was done some other way than by its own button
    (product: a finished step's message becomes one line without buttons).

    The newest message Mend sent to `to` with `tag` gets `body` (when given) and `buttons`
    (none: its buttons go). A message not sent yet goes out already tidy; one that was
    never sent, or was deleted in Telegram since, is left alone.
    """

    to: Target
    tag: str
    body: Text | None = None
    buttons: Keyboard = ()


# A tag that starts with this only names a step's message, for `EditTagged`: it never takes
# a reply. In private, what someone types answers the latest tagged question there
# (`takes_replies`), so a step message (a check-in's "thanks, that's all four") must not
# stand in front of the question it follows, nor in front of a repair being written.
TIDY_MARK = "~"


def tidy_tag(step: str, *ids: int) -> str:
    """`~step:id:…`: names a message to tidy later, and is never answered."""
    return ":".join([TIDY_MARK + step, *(str(number) for number in ids)])


def takes_replies(tag: str | None) -> bool:
    """Whether a reply to (or private text after) a message with this tag answers it."""
    return tag is not None and not tag.startswith(TIDY_MARK)


@dataclass(frozen=True)
class Notice:
    """The small note shown when a button is pressed (answerCallbackQuery)."""

    body: Text
    alert: bool = False


@dataclass(frozen=True)
class SendFile:
    """A document for one person's private chat only (never a group).

    `sent_note` is said where the command came from once the file is out (and a kind
    apology instead if Telegram refused it), so nobody is told of a file that never came.
    """

    user_id: int
    filename: str
    content: bytes
    caption: Text
    sent_note: Text | None = None


@dataclass(frozen=True)
class SetTimer:
    """Ask for something to happen at `due_at` (UTC). `ref` groups timers for cancelling."""

    kind: str
    couple_id: int
    due_at: datetime
    payload: Mapping[str, Any] = field(default_factory=dict)
    ref: str | None = None


@dataclass(frozen=True)
class CancelTimers:
    """Cancel the couple's pending timers with this `ref` (and/or `kind`)."""

    couple_id: int
    ref: str | None = None
    kind: str | None = None


# ---- what the delivery layer (bot/delivery/) does to its own rows ---------------------------
# Flows never write the outbox or the timers: they say what happened, and the delivery
# layer changes its rows in the same transaction.


@dataclass(frozen=True)
class ReleaseHeld:
    """The bot is back in this group: the messages held while it was out go out now."""

    chat_id: int


@dataclass(frozen=True)
class MoveChat:
    """The group moved to a new chat id (a supergroup): what it was not sent yet goes there."""

    old_chat_id: int
    new_chat_id: int


@dataclass(frozen=True)
class ForgetMessages:
    """/forget: every stored message about a couple goes: its own, everything to its group and
    to its partners, and answers sent to `private_chats` (the private chats that serve no
    other couple). First in a flow's effects, so what the flow says afterwards is kept."""

    couple_id: int
    group_chat_id: int
    partner_ids: tuple[int, ...]
    private_chats: tuple[int, ...]


@dataclass(frozen=True)
class ForgetPartnerMessages:
    """A partner left with their private answers deleted: the stored copies of what was
    written to them go, and the texts of what the group was sent are blanked (they may
    quote those answers; Telegram keeps what the group already saw)."""

    partner_id: int
    group_chat_id: int


Effect = (
    Send
    | EditOrigin
    | EditTagged
    | Notice
    | SendFile
    | SetTimer
    | CancelTimers
    | ReleaseHeld
    | MoveChat
    | ForgetMessages
    | ForgetPartnerMessages
)
Effects = list[Effect]


# ---- where a message may go, and what replaces it if Telegram refuses it ------------------
# One table per rule, by catalogue key, so no flow has to know about delivery
# (product.md, "Where each message goes").

# Meant for one partner only. When their private chat is not open (or they blocked the
# bot) these wait for it, and the group only hears, once, that something is waiting.
# Every other message to a partner may go to the group addressed to them ("For Ana: …"),
# because it is meant for both (a pause's "ready to come back?", "Ana kept her promise").
PRIVATE_ONLY_PREFIXES = (
    "promises.nudge",  # the day's reminder of a promise
    "promises.ask_kept",  # "kept?" with Kept / Not this time / Change it
    "promises.misses_offer",  # "hasn't happened the last 3 times"
    "checkin.ask",  # a check-in question asked privately (see below for the exception)
    "checkin.share_offer",  # private answers that stayed private
    "repair.",  # a repair being written in private
)

# A message that carries the couple's state: if Telegram refuses it, the couple still
# hears this simpler text, so nobody waits for a reveal or a return time that never came.
FALLBACK_KEYS = {
    "checkin.reveal": "delivery.fallback_reveal",
    "pause.started": "delivery.fallback_pause",
    "pause.agreed": "delivery.fallback_pause",
    "pause.proposed": "delivery.fallback_pause",
    "pause.more_group": "delivery.fallback_pause",
    "repair.posted_group": "delivery.fallback_repair",
}


def private_only(send: Send) -> bool:
    """Whether `send` must never reach the group. A check-in question asked in the group
    for a reply (`force_reply`: the partner has no private chat, and the question says both
    can see the answer) is the one exception the product allows."""
    if send.body.key == "checkin.ask" and send.force_reply:
        return False
    return send.body.key.startswith(PRIVATE_ONLY_PREFIXES)


def fallback_for(send: Send) -> Text | None:
    key = FALLBACK_KEYS.get(send.body.key)
    return Text(key, send.body.values) if key is not None else None
