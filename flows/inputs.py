"""Free text the bot is allowed to see: private messages and replies to its own messages.

Privacy mode keeps ordinary group conversation away from the bot; what arrives here
is an answer to something the bot asked (a check-in question, a repair step). Each
feature lists handlers in its `FEATURE.on_text` that return effects when the text is
their business, or None when it is not; they are asked in the order of
`flows/features.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from flows.couples import Actor
from flows.feature import installed
from flows.outcome import Effects, Send, Text, ToChat

# Telegram's own limit for one message; longer input cannot be echoed back whole.
MAX_INPUT = 4000


@dataclass(frozen=True)
class Said:
    """Text a partner sent to the bot, and which bot message it replies to (by tag)."""

    text: str
    reply_to_tag: str | None = None
    # True when the person used Telegram's reply on one of the bot's messages (in private,
    # plain typing gets the latest question's tag, but is not a reply to it).
    is_reply: bool = False


InputHandler = Callable[[Session, Actor, Said, datetime], Effects | None]


def step_tag(tag: str | None, prefix: str) -> tuple[int, str] | None:
    """`prefix:<id>:<step>`, the tag of a question asked step by step (repair, a hurt note, a
    soft restart), as (id, step); None for any other tag."""
    if not tag or not tag.startswith(prefix + ":"):
        return None
    parts = tag.split(":")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return int(parts[1]), parts[2]


def handle_text(session: Session, actor: Actor, said: Said, now: datetime) -> Effects:
    # Every feature's handlers, then what is said when none took the text (onboarding's
    # `unplaced_text`: it knows couples and where each person's questions go).
    for handler in installed().on_text:
        effects = handler(session, actor, said, now)
        if effects is not None:
            return effects
    if actor.in_private:
        return [Send(ToChat(actor.chat_id), Text("common.private_text_unexpected"))]
    return []
