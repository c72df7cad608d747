"""Erasing stored messages when a couple or a partner asks for it (flows/data_rights.py).

The outbox keeps rows a couple id alone does not find (answers sent to a chat before a
couple is chosen, copies addressed to a partner), so data rights say who asked
(`ForgetMessages`, `ForgetPartnerMessages`) and the rule for which rows go is here.
"""

from __future__ import annotations

from sqlalchemy import and_, delete, or_, update
from sqlmodel import Session, col

from bot.delivery.models import Outbox
from flows.outcome import ForgetMessages, ForgetPartnerMessages


def forget_messages(session: Session, forget: ForgetMessages) -> int:
    result = session.execute(
        delete(Outbox).where(
            or_(
                col(Outbox.couple_id) == forget.couple_id,
                col(Outbox.chat_id) == forget.group_chat_id,
                col(Outbox.partner_id).in_(forget.partner_ids),
                and_(
                    col(Outbox.couple_id).is_(None),
                    col(Outbox.chat_id).in_(forget.private_chats),
                ),
            )
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def forget_partner_messages(session: Session, forget: ForgetPartnerMessages) -> None:
    session.execute(delete(Outbox).where(col(Outbox.partner_id) == forget.partner_id))
    session.execute(
        update(Outbox)
        .where(
            col(Outbox.chat_id) == forget.group_chat_id,
            col(Outbox.state) == "sent",
            col(Outbox.body) != "",
        )
        .values(body="", markup=None)
    )
