"""Chats as the outbox knows them: which message was about what, and a chat that moved.

One place for rules that used to be written twice (the shell and check-in both asked
"which question is on screen", onboarding and the sender both moved a migrated group).
"""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.delivery.models import Outbox, OutboxKind, OutboxState
from flows.outcome import TIDY_MARK, takes_replies


def latest_question(session: Session, chat_id: int) -> str | None:
    """The tag of the newest question Telegram accepted in this chat (in private, what a
    partner types answers it; a tag that only names a step to tidy is no question).
    Only what was delivered counts, in the order it was delivered: a question still
    waiting in the outbox was never seen, so a sentence meant for the question on screen
    is never filed under it."""
    query = (
        select(Outbox.tag)
        .where(
            col(Outbox.chat_id) == chat_id,
            col(Outbox.tag).is_not(None),
            ~col(Outbox.tag).startswith(TIDY_MARK),
            # An edit carries the tag of the message it edits; it asks nothing new.
            col(Outbox.kind) == OutboxKind.SEND,
            col(Outbox.state) == OutboxState.SENT,
        )
        .order_by(col(Outbox.sent_at).desc(), col(Outbox.id).desc())
        .limit(1)
    )
    return session.exec(query).first()


def tag_of_message(session: Session, chat_id: int, message_id: int) -> str | None:
    """The tag of the bot's message `message_id` (a question someone replied to)."""
    query = select(Outbox.tag).where(
        col(Outbox.chat_id) == chat_id,
        col(Outbox.message_id) == message_id,
        col(Outbox.kind) == OutboxKind.SEND,
    )
    tag = session.exec(query).first()
    # A step's name for tidying (`tidy_tag`) is not a question: as if untagged.
    return tag if takes_replies(tag) else None


def couple_of_message(session: Session, chat_id: int, message_id: int) -> int | None:
    """The couple the bot's message `message_id` was about, if it was about one."""
    query = select(Outbox.couple_id).where(
        col(Outbox.chat_id) == chat_id, col(Outbox.message_id) == message_id
    )
    return session.exec(query).first()


def move_chat(session: Session, old_chat_id: int, new_chat_id: int) -> None:
    """A group became a supergroup: what was not sent yet goes to the new chat id."""
    session.execute(
        update(Outbox)
        .where(col(Outbox.chat_id) == old_chat_id, col(Outbox.state) != OutboxState.SENT)
        .values(chat_id=new_chat_id)
    )


def release_held(session: Session, chat_id: int) -> None:
    """The bot is back in the group: what was held while it was out goes out now."""
    session.execute(
        update(Outbox)
        .where(col(Outbox.chat_id) == chat_id, col(Outbox.state) == OutboxState.HELD)
        .values(state=OutboxState.PENDING)
    )
