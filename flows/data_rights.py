"""The couple's data: /export (a JSON copy in private) and /forget (delete all of it).

Both work on every table generically (flows/erasure.py), so tables added by features
this module has never seen are covered: a row belongs to a couple when its table has a
`couple_id` column, or when it points (by foreign key) at a row that belongs to the couple.

Export: each partner gets what both have already seen, and their own private text,
decrypted. The other partner's rows follow `SEEN_BY_BOTH` where a feature's rule is
known: a promise once made, a repair once posted, check-in answers once revealed are
exported whole; an unrevealed check-in's answers and turns, an unposted repair, a
promise never made are left out entirely (not even the trace that they exist). In
tables without such a rule the other's secret columns are withheld. The outbox (copies
of messages, including ones addressed privately to the other partner) is not exported;
timers are, as "scheduled".

Forget: after the asking partner confirms, every row of the couple goes, in every
table (timers included), then the partners and the couple; the stored messages go by
the `ForgetMessages` effect (the outbox is the delivery layer's); the group is told,
and the bot then treats the group as new.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, select
from sqlmodel import Session, SQLModel

from flows import buttons
from flows.buttons import Press
from flows.checkin import SHARED as CHECKIN_SHARED
from flows.couples import (
    Actor,
    Membership,
    couples_of_user,
    guard,
    membership,
    partners_of,
)
from flows.erasure import (
    COUPLE,
    OUTBOX,
    PARTNER,
    TIMER,
    couple_rows,
    delete_selected,
    erase_couple,
    every_table,
    private_rows_of,
)
from flows.feature import Feature
from flows.models import Couple, Partner
from flows.onboarding import deep_link
from flows.outcome import (
    Button,
    EditOrigin,
    Effects,
    ForgetMessages,
    ForgetPartnerMessages,
    Notice,
    Send,
    SendFile,
    ToChat,
    keyboard,
    text,
)
from flows.secret import SecretText

FORGET = "fg"
# The core tables by name (the generic code below works on SQLAlchemy tables).
EXPORT_FORMAT = "mend-export/1"


def _partner_here(session: Session, actor: Actor, now: datetime) -> Membership | Effects:
    """Like `guard`, but a partner whose other half has left still owns the data."""
    found = membership(session, actor, now)
    return found if found is not None else guard(session, actor, now)


# ---- /export ------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _checkin_seen_by_both(session: Session, row: dict[str, Any]) -> bool:
    """A check-in row of the other partner: shown once its answers were revealed to both,
    and only if that partner really answered (a partner who answered nothing was left out
    of the reveal)."""
    checkins = SQLModel.metadata.tables["checkin"]
    answers = SQLModel.metadata.tables["checkin_answer"]
    state = session.execute(
        select(checkins.c.state).where(checkins.c.id == row["checkin_id"])
    ).scalar_one_or_none()
    if state not in CHECKIN_SHARED:
        return False
    real = session.execute(
        select(answers.c.id)
        .where(
            answers.c.checkin_id == row["checkin_id"],
            answers.c.partner_id == row["partner_id"],
            answers.c.answer.is_not(None),
        )
        .limit(1)
    ).first()
    return real is not None


# The other partner's rows, by table: True when both have already seen the row (it is
# exported whole), False when it is still theirs alone (it is left out entirely).
SEEN_BY_BOTH: dict[str, Callable[[Session, dict[str, Any]], bool]] = {
    "promise": lambda _session, row: row["state"] not in {"draft", "expired"},
    "repair": lambda _session, row: row["state"] == "posted",
    "checkin_answer": _checkin_seen_by_both,
    "checkin_turn": _checkin_seen_by_both,
}


def _rows(
    session: Session, table: Table, condition: ColumnElement[bool], reader: Partner
) -> list[dict[str, Any]]:
    secret = [column.name for column in table.columns if isinstance(column.type, SecretText)]
    # Read through the table's column types, so secret text comes out decrypted.
    query = select(table).where(condition).order_by(*table.primary_key.columns)
    rows: list[dict[str, Any]] = []
    seen_by_both = SEEN_BY_BOTH.get(table.name)
    for row in session.execute(query).mappings():
        item = {name: _plain(value) for name, value in row.items()}
        owner = item.get("partner_id")
        if seen_by_both is not None and owner is not None and owner != reader.id:
            if seen_by_both(session, dict(row)):
                rows.append(item)
            continue
        if secret and owner is not None and owner != reader.id:
            withheld = [name for name in secret if item.get(name) is not None]
            for name in withheld:
                item[name] = None
            if withheld:
                item["withheld"] = withheld
        rows.append(item)
    return rows


def export_document(
    session: Session, couple: Couple, reader: Partner, now: datetime
) -> dict[str, Any]:
    """The couple's data as one JSON-ready document, for `reader`."""
    select_rows = couple_rows(couple.id or 0)
    partners = partners_of(session, couple.id or 0)
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "exported_at": now.isoformat(),
        "exported_for": reader.first_name,
        "note": (
            "Times are UTC. What both of you have seen is here, and what you wrote "
            "yourself. What your partner wrote privately and has not shared is left "
            'out (or "withheld" names the fields); they can export their own.'
        ),
        "settings": {
            "timezone": couple.timezone,
            "language": couple.language,
            "partner_timezones": {p.first_name: p.timezone or couple.timezone for p in partners},
        },
    }
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in every_table():
        if table.name == OUTBOX:
            continue  # copies of sent messages, some addressed privately to the other partner
        condition = select_rows(table)
        if condition is None:
            continue
        rows = _rows(session, table, condition, reader)
        if table.name == COUPLE:
            document["couple"] = rows[0] if rows else {}
        elif table.name == PARTNER:
            document["partners"] = rows
        elif table.name == TIMER:
            document["scheduled"] = [
                {key: row[key] for key in ("id", "kind", "due_at", "state", "ref")} for row in rows
            ]
        else:
            tables[table.name] = rows
    document["tables"] = tables
    document["group_posts"] = _group_posts(session, couple)
    return document


def _group_posts(session: Session, couple: Couple) -> list[dict[str, Any]]:
    """What Mend posted in the group, which both have read, while its text is still kept
    (the outbox erases sent text after a few days).

    The one place a flow reads the delivery layer's outbox, read-only and through the
    table (as every export reads every table), not the model: a copy of what both saw
    belongs in their export, and an interface for one query would cost more than it hides.
    """
    outbox = SQLModel.metadata.tables[OUTBOX]
    # The body is stored marked (pln1:/enc1:), so an erased text is recognised once read.
    query = (
        select(outbox.c.sent_at, outbox.c.body)
        .where(outbox.c.chat_id == couple.group_chat_id, outbox.c.state == "sent")
        .order_by(outbox.c.id)
    )
    return [
        {"sent_at": _plain(sent_at), "text": body}
        for sent_at, body in session.execute(query)
        if body
    ]


def export(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/export: a JSON copy of the couple's data, to the asking partner's private chat only."""
    found = _partner_here(session, actor, now)
    if not isinstance(found, Membership):
        return found
    partner = found.partner
    here = ToChat(actor.chat_id)
    if not partner.private_open or partner.private_blocked:
        link = Button(label=text("data.button_open_private"), url=deep_link(found.couple_id))
        return [
            Send(
                here,
                text("data.export_needs_private", name=partner.first_name),
                buttons=keyboard([link]),
            )
        ]
    document = export_document(session, found.couple, partner, now)
    content = json.dumps(document, ensure_ascii=False, indent=2).encode()
    filename = f"mend-export-{now:%Y-%m-%d}.json"
    note = None if actor.in_private else text("data.export_sent", name=partner.first_name)
    return [
        SendFile(
            user_id=partner.user_id,
            filename=filename,
            content=content,
            caption=text("data.export_caption", title=found.couple.title),
            sent_note=note,
        )
    ]


# ---- /forget ------------------------------------------------------------------------------


def forget(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/forget: asks first; only the partner who asked can confirm."""
    found = _partner_here(session, actor, now)
    if not isinstance(found, Membership):
        return found
    return [
        Send(
            ToChat(actor.chat_id),
            text("data.forget_confirm", title=found.couple.title, name=found.partner.first_name),
            buttons=keyboard(
                [buttons.button(text("data.button_forget"), FORGET, found.partner_id, "yes")],
                [buttons.button(text("data.button_keep"), FORGET, found.partner_id, "no")],
            ),
        )
    ]


def forget_couple(session: Session, couple: Couple) -> ForgetMessages:
    """Delete every row of the couple in every table, the couple row last; the stored
    messages about it go by the effect returned (the outbox is the delivery layer's)."""
    partners = partners_of(session, couple.id or 0)
    # A private chat serves every couple of its person: only clear it when this is their only one.
    private_chats = [p.user_id for p in partners if len(couples_of_user(session, p.user_id)) == 1]
    messages = ForgetMessages(
        couple_id=couple.id or 0,
        group_chat_id=couple.group_chat_id,
        partner_ids=tuple(p.id or 0 for p in partners),
        private_chats=tuple(private_chats),
    )
    erase_couple(session, couple.id or 0)
    return messages


def press_forget(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    partner = session.get(Partner, press.target_id)
    couple = session.get(Couple, partner.couple_id) if partner is not None else None
    if partner is None or couple is None or press.action not in {"yes", "no"}:
        return buttons.expired()
    if actor.chat_id not in {couple.group_chat_id, partner.user_id}:
        return buttons.expired()
    if partner.user_id != actor.user_id:
        return [Notice(text("data.forget_not_yours", name=partner.first_name), alert=True)]
    if press.action == "no":
        return [EditOrigin(body=text("data.forget_kept"))]
    group_chat_id = couple.group_chat_id
    messages = forget_couple(session, couple)
    session.expunge_all()
    # The couple row is gone, so the group is addressed by its chat id. The messages go
    # first: what is said below is kept.
    return [
        messages,
        EditOrigin(body=text("data.forgot_done")),
        Send(ToChat(group_chat_id), text("data.forgot_group")),
    ]


# ---- leaving with one's own answers deleted --------------------------------------------------


def delete_private_answers(
    session: Session, couple: Couple, partner: Partner, now: datetime
) -> Effects:
    """On /leave, if chosen: delete this partner's own intimate rows, nothing of the other's.

    Messages already delivered to the group may quote them (a reveal, a posted repair):
    their stored copies are blanked too; Telegram keeps what the group already saw.
    """
    delete_selected(session, private_rows_of(partner))
    return [
        ForgetPartnerMessages(partner.id or 0, couple.group_chat_id),
        Notice(text("data.left_and_deleted"), alert=True),
    ]


FEATURE = Feature(
    name="data_rights",
    commands={"export": export, "forget": forget},
    buttons={FORGET: press_forget},
    # "Leave and delete my private answers" on the /leave question.
    leave_choices={"wipe": (text("data.button_leave_and_delete"), delete_private_answers)},
)
