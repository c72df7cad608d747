"""Who else is in the group: the couple's group should hold the two of them and Mend.

A third person (turned away as a partner, or never asked) would read whatever Mend
posts there, including what the partners wrote privately. Mend keeps Telegram's
member count on the couple (`Couple.member_count`), refreshed at /start and whenever
someone joins or leaves; while others are present, private things (a check-in reveal,
a shared repair) go to the partners' private chats instead (see `others_present`).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from flows import onboarding
from flows.couples import Actor, couple_for_chat
from flows.feature import Feature
from flows.outcome import Effects, Send, ToChat, ToGroup, text


def record_members(session: Session, chat_id: int, count: int | None, now: datetime) -> Effects:
    """Someone joined or left: keep the new count; the couple hears once when others arrive."""
    couple = couple_for_chat(session, chat_id)
    if couple is None or count is None or count < 1:
        return []
    before = couple.others_present
    couple.member_count = count
    session.add(couple)
    if couple.others_present and not before and couple.formed_at is not None:
        return [Send(ToGroup(couple.id or 0), text("members.others_joined"))]
    return []


def start(
    session: Session,
    actor: Actor,
    args: str,
    default_zone: str,
    now: datetime,
    member_count: int | None,
) -> Effects:
    """/start, knowing how many are in the group: says so when anyone besides the couple is."""
    effects = onboarding.start(session, actor, args, default_zone, now)
    if actor.in_private or member_count is None:
        return effects
    couple = couple_for_chat(session, actor.chat_id)
    if couple is None:
        return effects
    couple.member_count = member_count
    session.add(couple)
    if couple.others_present:
        effects.append(Send(ToChat(actor.chat_id), text("members.others_at_start")))
    return effects


# /start and the member updates are wired in bot/app.py: both ask Telegram for the group's
# member count before calling `start` / `record_members`.
FEATURE = Feature(name="members")
