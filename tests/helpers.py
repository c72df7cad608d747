"""Helpers for flow tests: a formed couple, actors, reading what a flow returned, and the
check every effect passes in the tests (`check_effect`: each text renders in every language)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from bot.texts import catalogue, languages, render
from flows import buttons
from flows.couples import Actor
from flows.feature import installed
from flows.models import Couple, Partner
from flows.outcome import (
    Button,
    CancelTimers,
    ClockTime,
    Day,
    EditOrigin,
    Effect,
    Keyboard,
    Length,
    Moment,
    Notice,
    Send,
    SendFile,
    SetTimer,
    Text,
    ToChat,
    ToGroup,
    ToPartner,
    Weekday,
)

GROUP_ID = -1001
ANA_ID = 101
BEN_ID = 202
STRANGER_ID = 303

# A Wednesday, well away from daylight-saving changes.
T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


def make_couple(
    session: Session,
    *,
    now: datetime = T0,
    zone: str = "UTC",
    group_id: int = GROUP_ID,
    names: tuple[str, str] = ("Ana", "Ben"),
    user_ids: tuple[int, int] = (ANA_ID, BEN_ID),
    private_open: bool = True,
) -> tuple[Couple, Partner, Partner]:
    """A formed couple whose partners have both opened the private chat."""
    couple = Couple(
        group_chat_id=group_id,
        title=f"{names[0]} & {names[1]}",
        timezone=zone,
        created_at=now,
        formed_at=now,
    )
    session.add(couple)
    session.flush()
    partners = []
    for name, user_id in zip(names, user_ids, strict=True):
        partner = Partner(
            couple_id=couple.id or 0,
            user_id=user_id,
            first_name=name,
            private_open=private_open,
            joined_at=now,
            last_active_at=now,
        )
        session.add(partner)
        partners.append(partner)
    session.flush()
    return couple, partners[0], partners[1]


def in_group(user_id: int, name: str = "", group_id: int = GROUP_ID) -> Actor:
    return Actor(
        user_id=user_id,
        first_name=name or str(user_id),
        chat_id=group_id,
        chat_type="group",
        chat_title="Ana & Ben",
    )


def in_private(user_id: int, name: str = "") -> Actor:
    return Actor(
        user_id=user_id, first_name=name or str(user_id), chat_id=user_id, chat_type="private"
    )


def sends(effects: Iterable[Effect]) -> list[Send]:
    return [effect for effect in effects if isinstance(effect, Send)]


def timers(effects: Iterable[Effect]) -> list[SetTimer]:
    return [effect for effect in effects if isinstance(effect, SetTimer)]


def notices(effects: Iterable[Effect]) -> list[Notice]:
    return [effect for effect in effects if isinstance(effect, Notice)]


def edits(effects: Iterable[Effect]) -> list[EditOrigin]:
    return [effect for effect in effects if isinstance(effect, EditOrigin)]


def keys(effects: Iterable[Effect]) -> list[str]:
    """The catalogue keys of everything shown: sends, notices and edits."""
    return [body.key for body in _bodies(effects)]


def _bodies(effects: Iterable[Effect]) -> list[Text]:
    found: list[Text] = []
    for effect in effects:
        if isinstance(effect, Send | Notice | EditOrigin) and effect.body is not None:
            found.append(effect.body)
    return found


def shown(body: Text, language: str = "en") -> str:
    """What a partner reads, in English unless another language is named."""
    return render(body, language)


def to_group(send: Send, couple: Couple) -> bool:
    return isinstance(send.to, ToGroup) or (
        isinstance(send.to, ToChat) and send.to.chat_id == couple.group_chat_id
    )


def button_data(send: Send | EditOrigin) -> list[str]:
    return [button.data for row in send.buttons for button in row if button.data]


def all_text(effects: Iterable[Effect]) -> str:
    """Everything a flow shows, rendered, for asserting on wording."""
    return "\n".join(render(body) for body in _bodies(effects))


# ---- every effect a flow makes renders, in every shipped language ------------------------
# tests/conftest.py runs `check_effect` on each effect as it is made, so every flow test also
# checks the catalogue keys, the values each template needs, the button payloads and where a
# message goes, whatever the test itself asserts. In production a key missing in German falls
# back to English (and tests/bot/test_catalogues.py lists such gaps); here it fails at once.

# Timer kinds tests make for rows no feature owns (tests/flows/test_data_rights.py).
TEST_TIMER_KINDS = frozenset({"test.later"})
# What Telegram accepts after t.me/<bot>?start= (and ?startgroup=).
_DEEP_LINK = re.compile(r"(start|startgroup):[A-Za-z0-9_-]{1,64}")


class EffectError(AssertionError):
    """An effect no partner could be shown: a missing key, a value a template lacks ..."""


def check_effect(effect: Effect) -> None:
    if isinstance(effect, Send):
        _check_target(effect.to)
        check_text(effect.body)
        check_keyboard(effect.buttons)
    elif isinstance(effect, EditOrigin):
        if effect.body is not None:
            check_text(effect.body)
        check_keyboard(effect.buttons)
    elif isinstance(effect, Notice):
        check_text(effect.body)
    elif isinstance(effect, SendFile):
        _whole_number(effect.user_id, "SendFile.user_id")
        check_text(effect.caption)
        if effect.sent_note is not None:
            check_text(effect.sent_note)
    elif isinstance(effect, SetTimer):
        _whole_number(effect.couple_id, "SetTimer.couple_id")
        if effect.kind not in installed().timers and effect.kind not in TEST_TIMER_KINDS:
            raise EffectError(f"no feature handles timers of kind {effect.kind!r}")
        if not isinstance(effect.due_at, datetime) or effect.due_at.utcoffset() is None:
            raise EffectError(f"timer {effect.kind} due at {effect.due_at!r}, not an aware time")
    elif isinstance(effect, CancelTimers):
        _whole_number(effect.couple_id, "CancelTimers.couple_id")


def check_text(body: Text) -> None:
    """`body` and every text inside it are in every shipped catalogue (no English fallback),
    and each renders: every placeholder has its value, a plural has its whole `count`."""
    if not isinstance(body, Text):
        raise EffectError(f"{body!r} is not a Text")
    for nested in _texts(body):
        for name, value in nested.values.items():
            _shown_value(nested.key, name, value)
        for language in languages():
            entry = catalogue(language).get(nested.key)
            if entry is None:
                raise EffectError(f"catalogue {language} has no key {nested.key!r}")
            if isinstance(entry, tuple):
                raise EffectError(f"{nested.key!r} is a word list, not a text")
    for language in languages():
        try:
            render(body, language)
        except (KeyError, IndexError, ValueError) as error:
            raise EffectError(f"{body!r} does not render in {language}: {error!r}") from error


def _shown_value(key: str, name: str, value: Any) -> None:
    """A value a template shows is never None: str.format would print "None" (and Babel
    would show today's date for a `Day` of None)."""
    parts = value if isinstance(value, tuple) else (value,)
    for part in parts:
        if part is None:
            raise EffectError(f"{key!r} would show None for {{{name}}}")
        if isinstance(part, Moment | ClockTime | Day | Weekday | Length):
            for field in fields(part):
                if getattr(part, field.name) is None:
                    raise EffectError(f"{key!r}: {{{name}}} is a {part!r} without {field.name}")


def check_keyboard(keyboard: Keyboard) -> None:
    for row in keyboard:
        for button in row:
            _check_button(button)


def _check_button(button: Button) -> None:
    check_text(button.label)
    if (button.data is None) == (button.url is None):
        raise EffectError(f"{button!r} needs exactly one of data and url")
    if button.data is not None:
        press = buttons.parse(button.data)
        if press is None or press.kind not in installed().buttons:
            raise EffectError(f"no feature answers the button {button.data!r}")
    elif not (_DEEP_LINK.fullmatch(button.url or "") or (button.url or "").startswith("https://")):
        raise EffectError(f"{button.url!r} is neither a deep link nor a web address")


def _texts(body: Text) -> Iterator[Text]:
    yield body
    for value in body.values.values():
        yield from _nested(value)


def _nested(value: Any) -> Iterator[Text]:
    if isinstance(value, Text):
        yield from _texts(value)
    elif isinstance(value, tuple):
        for item in value:
            yield from _nested(item)


def _check_target(to: object) -> None:
    if isinstance(to, ToGroup):
        _whole_number(to.couple_id, "ToGroup.couple_id")
    elif isinstance(to, ToPartner):
        _whole_number(to.partner_id, "ToPartner.partner_id")
    elif isinstance(to, ToChat):
        _whole_number(to.chat_id, "ToChat.chat_id")
    else:
        raise EffectError(f"{to!r} is not a chat a message can go to")


def _whole_number(value: object, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise EffectError(f"{what} is {value!r}, not an id")
