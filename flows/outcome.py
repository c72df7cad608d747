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
    """A new message. `tag` names it so a later reply to it can be recognised."""

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


Effect = Send | EditOrigin | Notice | SendFile | SetTimer | CancelTimers
Effects = list[Effect]
