"""/safety: where to get help when someone is not safe, in the private chat only.

Abuse is not a communication problem (product.md, "Safety and privacy"): the bot does
not try to repair it. The resources go to the asking person's private chat and never
to the group, where the person they fear may be reading; in a group, /safety gets one
neutral line pointing to the private chat.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from flows.couples import Actor
from flows.outcome import Button, Effects, Send, ToChat, keyboard, text

# The deep-link payload of the "open my private chat" button; carries nothing personal.
PRIVATE_LINK = "start:hello"


def resources_for(actor: Actor) -> Send:
    """The resources, addressed to the person's own private chat (their user id).

    Built from the user id, never from the chat the command came from, so even a
    mistaken call for a group update cannot put them in a group.
    """
    return Send(ToChat(actor.user_id), text("safety.resources"))


def safety(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/safety: the resources in private; in a group, only a pointer to the private chat."""
    if actor.in_private:
        return [resources_for(actor)]
    link = Button(label=text("safety.button_open_private"), url=PRIVATE_LINK)
    return [Send(ToChat(actor.chat_id), text("safety.in_group"), buttons=keyboard([link]))]
