"""Helpers for flow tests: a formed couple, actors, and reading what a flow returned."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlmodel import Session

from bot.texts import render
from flows.couples import Actor
from flows.models import Couple, Partner
from flows.outcome import EditOrigin, Effect, Notice, Send, SetTimer, Text, ToChat, ToGroup

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


def shown(body: Text) -> str:
    """What a partner reads, in English."""
    return render(body)


def to_group(send: Send, couple: Couple) -> bool:
    return isinstance(send.to, ToGroup) or (
        isinstance(send.to, ToChat) and send.to.chat_id == couple.group_chat_id
    )


def button_data(send: Send | EditOrigin) -> list[str]:
    return [button.data for row in send.buttons for button in row if button.data]


def all_text(effects: Iterable[Effect]) -> str:
    """Everything a flow shows, rendered, for asserting on wording."""
    return "\n".join(render(body) for body in _bodies(effects))
