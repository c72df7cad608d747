"""/export, /forget, leaving with one's own answers deleted, and encryption at rest."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Engine, ForeignKey, Integer, String, Table, func, type_coerce
from sqlalchemy import Text as SAText
from sqlmodel import Session, SQLModel, select

from bot.db import make_engine, migrate, session_scope
from bot.delivery.models import Outbox, Timer
from bot.delivery.outbox import persist
from flows import buttons, data_rights, onboarding
from flows.checkin import Checkin, CheckinAnswer, CheckinSchedule, CheckinTurn
from flows.data_rights import couple_rows, export, forget
from flows.models import Couple, Partner
from flows.outcome import (
    Effect,
    ForgetMessages,
    ForgetPartnerMessages,
    Send,
    SendFile,
    SetTimer,
    Text,
    ToChat,
    ToGroup,
    ToPartner,
)
from flows.pause import Pause
from flows.promises import Promise, PromiseCheck
from flows.repair import Repair
from flows.secret import (
    PREFIX,
    DataKeyError,
    SecretText,
    check_data_key,
    configure_data_key,
    generate_key,
    rotate_stored_text,
    seal,
    unseal,
)
from tests.helpers import (
    ANA_ID,
    BEN_ID,
    GROUP_ID,
    STRANGER_ID,
    T0,
    all_text,
    button_data,
    in_group,
    in_private,
    keys,
    make_couple,
    notices,
    sends,
)

OTHER_GROUP = -2002
CLEO_ID, DAN_ID = 401, 402
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine(any_engine: Engine) -> Engine:
    """These storage rules run on SQLite and, when configured, on PostgreSQL."""
    return any_engine


@pytest.fixture
def data_key() -> Iterator[str]:
    key = generate_key()
    configure_data_key(key)
    yield key
    configure_data_key(None)


@pytest.fixture
def gadgets(engine: Engine) -> Iterator[tuple[Table, Table]]:
    """Tables of a feature this module has never seen: one with couple_id, one hanging off it."""
    gadget = Table(
        "gadget",
        SQLModel.metadata,
        Column("id", Integer, primary_key=True),
        Column("couple_id", Integer, ForeignKey("couple.id"), nullable=False),
        Column("partner_id", Integer, nullable=False),
        Column("note", SecretText(), nullable=False),
    )
    part = Table(
        "gadget_part",
        SQLModel.metadata,
        Column("id", Integer, primary_key=True),
        Column("gadget_id", Integer, ForeignKey("gadget.id"), nullable=False),
        Column("detail", String, nullable=False),
    )
    SQLModel.metadata.create_all(engine, tables=[gadget, part])
    yield gadget, part
    SQLModel.metadata.remove(part)
    SQLModel.metadata.remove(gadget)


def _fill(
    session: Session,
    couple: Couple,
    a: Partner,
    b: Partner,
    word: str,
    gadgets: tuple[Table, Table] | None = None,
) -> None:
    """Rows of one couple in every kind of table; `word` marks their texts."""
    for partner, state in ((a, "posted"), (b, "writing")):
        session.add(
            Repair(
                couple_id=couple.id or 0,
                partner_id=partner.id or 0,
                private=True,
                state=state,
                ownership=f"{word} {partner.first_name} owns",
                impact=f"{word} impact",
                started_at=T0,
                updated_at=T0,
            )
        )
    effects: list[Effect] = [
        SetTimer("test.later", couple.id or 0, T0 + timedelta(days=1), {"n": 1}, ref="x:1"),
        Send(ToGroup(couple.id or 0), Text("common.for_partner", {"name": f"{word} group"})),
        Send(ToPartner(a.id or 0), Text("common.for_partner", {"name": f"{word} private"})),
        Send(ToChat(couple.group_chat_id), Text("common.for_partner", {"name": f"{word} chat"})),
        Send(ToChat(a.user_id), Text("common.for_partner", {"name": f"{word} answer"})),
    ]
    persist(session, effects, T0, claim=False)
    if gadgets is not None:
        gadget, part = gadgets
        for partner in (a, b):
            result = session.execute(
                gadget.insert().values(
                    couple_id=couple.id,
                    partner_id=partner.id,
                    note=f"{word} gadget {partner.first_name}",
                )
            )
            gadget_id = result.inserted_primary_key[0]  # type: ignore[index]
            session.execute(part.insert().values(gadget_id=gadget_id, detail=f"{word} part"))
    session.flush()


def _two_couples(
    session: Session, gadgets: tuple[Table, Table] | None = None
) -> tuple[Couple, Partner, Partner, Couple]:
    couple, ana, ben = make_couple(session)
    other, cleo, dan = make_couple(
        session, group_id=OTHER_GROUP, names=("Cleo", "Dan"), user_ids=(CLEO_ID, DAN_ID)
    )
    _fill(session, couple, ana, ben, "ours", gadgets)
    _fill(session, other, cleo, dan, "theirs", gadgets)
    return couple, ana, ben, other


def _snapshot(session: Session, couple_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of a couple in every table, as stored."""
    select_rows = couple_rows(couple_id)
    found: dict[str, list[tuple[Any, ...]]] = {}
    for table in SQLModel.metadata.sorted_tables:
        condition = select_rows(table)
        if condition is not None:
            query = select(table).where(condition).order_by(*table.primary_key.columns)
            found[table.name] = [tuple(row) for row in session.execute(query)]
    return found


def _document(effects: list[Effect]) -> dict[str, Any]:
    files = [effect for effect in effects if isinstance(effect, SendFile)]
    assert len(files) == 1
    loaded: dict[str, Any] = json.loads(files[0].content)
    return loaded


# ---- /export ----------------------------------------------------------------------------------


def test_export_sends_the_couples_data_as_json_to_the_private_chat_only(
    session: Session, data_key: str
) -> None:
    couple, ana, _ben, _other = _two_couples(session)
    effects = export(session, in_group(ANA_ID, "Ana"), "", T0)
    files = [effect for effect in effects if isinstance(effect, SendFile)]
    assert [f.user_id for f in files] == [ANA_ID]
    assert files[0].filename == "mend-export-2026-11-25.json"
    assert files[0].sent_note is not None and files[0].sent_note.key == "data.export_sent"
    assert sends(effects) == []  # said only once the file is out (bot/shell.py)
    document = _document(effects)
    assert document["couple"]["id"] == couple.id
    assert document["settings"]["timezone"] == "UTC"
    assert [p["first_name"] for p in document["partners"]] == ["Ana", "Ben"]
    assert [t["kind"] for t in document["scheduled"]] == ["test.later"]
    assert "outbox" not in document["tables"]
    # Ben's repair is still being written: Ana's copy does not even show it exists.
    repairs = document["tables"]["repair"]
    assert [r["partner_id"] for r in repairs] == [ana.id]


def test_export_decrypts_text_and_withholds_what_the_other_partner_wrote_privately(
    session: Session, data_key: str
) -> None:
    _two_couples(session)
    raw = json.dumps(_document(export(session, in_private(ANA_ID, "Ana"), "", T0)))
    assert "ours Ana owns" in raw
    assert PREFIX not in raw
    assert "ours Ben owns" not in raw
    assert "theirs" not in raw  # nothing of the other couple
    # Ana's repair was posted to the group, so both have seen it: Ben's copy has it whole.
    bens_own = json.dumps(_document(export(session, in_private(BEN_ID, "Ben"), "", T0)))
    assert "ours Ben owns" in bens_own and "ours Ana owns" in bens_own


def test_export_includes_tables_of_features_it_has_never_seen(
    session: Session, gadgets: tuple[Table, Table]
) -> None:
    _two_couples(session, gadgets)
    document = _document(export(session, in_private(ANA_ID, "Ana"), "", T0))
    assert [g["note"] for g in document["tables"]["gadget"]] == ["ours gadget Ana", None]
    assert [p["detail"] for p in document["tables"]["gadget_part"]] == ["ours part"] * 2


def _checkin_with_answers(
    session: Session, couple: Couple, ana: Partner, ben: Partner, state: str
) -> Checkin:
    week = Checkin(couple_id=couple.id or 0, planned_at=T0, started_at=T0, state=state)
    session.add(week)
    session.flush()
    session.add_all(
        [
            CheckinTurn(checkin_id=week.id or 0, partner_id=ana.id or 0, asking=3, asked_at=T0),
            CheckinTurn(checkin_id=week.id or 0, partner_id=ben.id or 0, asking=1, asked_at=T0),
            CheckinAnswer(
                checkin_id=week.id or 0,
                partner_id=ana.id or 0,
                question=1,
                answer="ana private care",
                answered_at=T0,
            ),
            CheckinAnswer(
                checkin_id=week.id or 0,
                partner_id=ana.id or 0,
                question=2,
                answer=None,
                answered_at=T0 + timedelta(minutes=7),
            ),
            CheckinAnswer(
                checkin_id=week.id or 0,
                partner_id=ben.id or 0,
                question=1,
                answer="ben private care",
                answered_at=T0,
            ),
        ]
    )
    session.flush()
    return week


def test_export_leaves_out_the_other_partners_unrevealed_answers_and_their_traces(
    session: Session,
) -> None:
    couple, ana, ben = make_couple(session)
    _checkin_with_answers(session, couple, ana, ben, "open")
    document = _document(export(session, in_private(BEN_ID, "Ben"), "", T0))
    raw = json.dumps(document)
    assert "ana private care" not in raw
    for table in ("checkin_answer", "checkin_turn"):
        owners = {row["partner_id"] for row in document["tables"][table]}
        assert owners == {ben.id}, table  # no turn state, no answered_at, no skipped nulls
    assert [row["answer"] for row in document["tables"]["checkin_answer"]] == ["ben private care"]


def test_export_includes_answers_once_they_were_revealed_to_both(session: Session) -> None:
    couple, ana, ben = make_couple(session)
    _checkin_with_answers(session, couple, ana, ben, "done")
    document = _document(export(session, in_private(BEN_ID, "Ben"), "", T0))
    answers = {row["answer"] for row in document["tables"]["checkin_answer"]}
    assert answers == {"ana private care", None, "ben private care"}


def test_export_includes_the_promises_made_to_the_asker(session: Session) -> None:
    couple, ana, _ben = make_couple(session)
    session.add_all(
        [
            Promise(
                couple_id=couple.id or 0,
                partner_id=ana.id or 0,
                number=1,
                state="active",
                what="phone away at dinner",
                created_at=T0,
            ),
            Promise(
                couple_id=couple.id or 0,
                partner_id=ana.id or 0,
                state="draft",
                what="a draft never made",
                created_at=T0,
            ),
        ]
    )
    session.flush()
    document = _document(export(session, in_private(BEN_ID, "Ben"), "", T0))
    assert [row["what"] for row in document["tables"]["promise"]] == ["phone away at dinner"]


def test_export_without_a_private_chat_says_how_to_open_it(session: Session) -> None:
    make_couple(session, private_open=False)
    effects = export(session, in_group(ANA_ID, "Ana"), "", T0)
    assert not [effect for effect in effects if isinstance(effect, SendFile)]
    assert keys(effects) == ["data.export_needs_private"]
    assert sends(effects)[0].buttons[0][0].url == onboarding.deep_link(1)


def test_export_is_for_partners_only(session: Session) -> None:
    make_couple(session)
    effects = export(session, in_group(STRANGER_ID, "Cleo"), "", T0)
    assert keys(effects) == ["common.only_partners"]
    assert not [effect for effect in effects if isinstance(effect, SendFile)]


# ---- /forget ----------------------------------------------------------------------------------


def _forget_press(
    session: Session, actor: Any, partner: Partner, action: str = "yes"
) -> list[Effect]:
    data = buttons.data(data_rights.FORGET, partner.id or 0, action)
    return _erasing_messages(session, list(buttons.handle_press(session, actor, data, T0)))


def _erasing_messages(session: Session, effects: list[Effect]) -> list[Effect]:
    """The stored messages go as the shell carries the flow's effect out (the delivery
    layer's part only: the sends are left to each test, which reads them)."""
    erase = [e for e in effects if isinstance(e, ForgetMessages | ForgetPartnerMessages)]
    persist(session, erase, T0, claim=False)
    return effects


def test_forget_asks_for_confirmation_first(session: Session) -> None:
    couple, ana, _ben, _other = _two_couples(session)
    before = _snapshot(session, couple.id or 0)
    effects = forget(session, in_group(ANA_ID, "Ana"), "", T0)
    assert keys(effects) == ["data.forget_confirm"]
    assert button_data(sends(effects)[0]) == [
        buttons.data("fg", ana.id or 0, "yes"),
        buttons.data("fg", ana.id or 0, "no"),
    ]
    assert _snapshot(session, couple.id or 0) == before


def test_only_the_asking_partners_press_counts(session: Session) -> None:
    couple, ana, _ben, _other = _two_couples(session)
    before = _snapshot(session, couple.id or 0)
    ben_press = _forget_press(session, in_group(BEN_ID, "Ben"), ana)
    assert [n.body.key for n in notices(ben_press)] == ["data.forget_not_yours"]
    stranger = _forget_press(session, in_private(STRANGER_ID), ana)
    assert keys(stranger) == ["common.button_expired"]
    assert _snapshot(session, couple.id or 0) == before
    assert keys(_forget_press(session, in_group(ANA_ID, "Ana"), ana, "no")) == ["data.forget_kept"]
    assert _snapshot(session, couple.id or 0) == before


def test_forget_removes_every_row_of_the_couple_and_nothing_of_another(
    session: Session, gadgets: tuple[Table, Table]
) -> None:
    couple, ana, _ben, other = _two_couples(session, gadgets)
    theirs = _snapshot(session, other.id or 0)
    assert all(
        theirs[name]
        for name in ("couple", "partner", "repair", "timer", "gadget", "gadget_part", "outbox")
    )
    ours = _snapshot(session, couple.id or 0)
    assert sum(len(rows) for rows in ours.values()) > 10
    effects = _forget_press(session, in_private(ANA_ID, "Ana"), ana)
    assert keys(effects) == ["data.forgot_done", "data.forgot_group"]
    assert all(rows == [] for rows in _snapshot(session, couple.id or 0).values())
    # Messages about the couple that carried no couple id (answers to a chat) go too.
    left = session.exec(select(Outbox).where(Outbox.chat_id.in_([GROUP_ID, ANA_ID, BEN_ID])))  # type: ignore[attr-defined]
    assert list(left) == []
    assert _snapshot(session, other.id or 0) == theirs
    assert session.exec(select(func.count()).select_from(Partner)).one() == 2


def test_the_group_is_told_even_though_the_couple_is_gone(session: Session) -> None:
    _couple, ana, _ben, _other = _two_couples(session)
    effects = _forget_press(session, in_group(ANA_ID, "Ana"), ana)
    told = sends(effects)
    assert [s.to for s in told] == [ToChat(GROUP_ID)]
    persist(session, effects, T0, claim=False)
    rows = session.exec(select(Outbox).where(Outbox.chat_id == GROUP_ID)).all()
    assert len(rows) == 1 and "has been deleted" in rows[0].body
    assert "Ana" not in all_text(told)  # neutral: not who asked


def test_after_forget_the_group_is_new_to_the_bot(session: Session) -> None:
    couple, ana, _ben, _other = _two_couples(session)
    _forget_press(session, in_group(ANA_ID, "Ana"), ana)
    assert session.get(Couple, couple.id) is None
    assert keys(forget(session, in_group(ANA_ID, "Ana"), "", T0)) == ["common.no_couple_group"]
    started = onboarding.start(session, in_group(ANA_ID, "Ana"), "", "UTC", T0)
    assert keys(started) == ["onboarding.intro"]
    fresh = session.exec(select(Couple).where(Couple.group_chat_id == GROUP_ID)).one()
    assert fresh.formed_at is None
    assert keys(_forget_press(session, in_group(ANA_ID, "Ana"), ana)) == ["common.button_expired"]


def test_after_the_other_partner_left_the_remaining_one_can_still_export_and_forget(
    session: Session,
) -> None:
    couple, ana, ben, other = _two_couples(session)
    theirs = _snapshot(session, other.id or 0)
    buttons.handle_press(
        session, in_private(BEN_ID, "Ben"), buttons.data(onboarding.LEAVE, ben.id or 0, "yes"), T0
    )
    assert couple.formed_at is None
    document = _document(export(session, in_group(ANA_ID, "Ana"), "", T0))
    assert [p["first_name"] for p in document["partners"]] == ["Ana"]
    assert keys(forget(session, in_group(ANA_ID, "Ana"), "", T0)) == ["data.forget_confirm"]
    _forget_press(session, in_group(ANA_ID, "Ana"), ana)
    assert all(rows == [] for rows in _snapshot(session, couple.id or 0).values())
    assert _snapshot(session, other.id or 0) == theirs
    # Ben, gone before, cannot act for the couple.
    assert keys(forget(session, in_group(BEN_ID, "Ben"), "", T0)) == ["common.no_couple_group"]


def test_forget_keeps_what_a_partner_has_with_another_couple(session: Session) -> None:
    _couple, ana, _ben = make_couple(session)
    _other, ana_there, _eve = make_couple(
        session, group_id=OTHER_GROUP, names=("Ana", "Eve"), user_ids=(ANA_ID, DAN_ID)
    )
    persist(
        session, [Send(ToChat(ANA_ID), Text("common.for_partner", {"name": "x"}))], T0, claim=False
    )
    _forget_press(session, in_group(ANA_ID, "Ana"), ana)
    assert session.get(Partner, ana_there.id) is not None
    # Ana's private chat also serves her other couple, so its untagged messages stay.
    assert session.exec(select(Outbox).where(Outbox.chat_id == ANA_ID)).all()


# ---- every kind of row, filled explicitly ------------------------------------------------------

# The tables that hold what a partner wrote, named here rather than derived from the
# product's own `couple_rows`, so a table the deletion forgets fails the test.
PARTNER_TEXT = {
    "checkin_answer": CheckinAnswer,
    "promise": Promise,
    "repair": Repair,
    "outbox": Outbox,
}
# Every table that holds anything of a couple.
COUPLE_TABLES = {
    "couple": Couple,
    "partner": Partner,
    "pause": Pause,
    "checkin_schedule": CheckinSchedule,
    "checkin": Checkin,
    "checkin_turn": CheckinTurn,
    "checkin_answer": CheckinAnswer,
    "promise": Promise,
    "promisecheck": PromiseCheck,
    "repair": Repair,
    "timer": Timer,
    "outbox": Outbox,
}


def _fill_everything(
    session: Session, couple: Couple, a: Partner, b: Partner, word: str
) -> dict[str, set[int]]:
    """One row or more in every table for this couple; returns their ids by table."""
    cid = couple.id or 0
    rows: list[Any] = [
        Pause(
            couple_id=cid,
            asked_by=a.id or 0,
            other_id=b.id or 0,
            started_at=T0,
            agreed_return_at=T0,
            return_at=T0,
            state="ended",
        ),
        CheckinSchedule(couple_id=cid, updated_at=T0),
    ]
    week = Checkin(couple_id=cid, planned_at=T0, started_at=T0, state="done")
    session.add_all([*rows, week])
    session.flush()
    for partner in (a, b):
        rows.append(CheckinTurn(checkin_id=week.id or 0, partner_id=partner.id or 0))
        for number in (1, 2):
            rows.append(
                CheckinAnswer(
                    checkin_id=week.id or 0,
                    partner_id=partner.id or 0,
                    question=number,
                    answered_at=T0,
                    answer=f"{word} {partner.first_name} answer {number}",
                )
            )
        promise = Promise(
            couple_id=cid,
            partner_id=partner.id or 0,
            state="active",
            what=f"{word} {partner.first_name} promise",
            created_at=T0,
        )
        session.add(promise)
        session.flush()
        rows.append(
            PromiseCheck(promise_id=promise.id or 0, couple_id=cid, day=T0.date(), asked_at=T0)
        )
        rows.append(promise)
        rows.append(
            Repair(
                couple_id=cid,
                partner_id=partner.id or 0,
                state="posted",
                ownership=f"{word} {partner.first_name} owns",
                started_at=T0,
                updated_at=T0,
            )
        )
        rows.append(
            Outbox(
                couple_id=cid,
                partner_id=partner.id,
                chat_id=partner.user_id,
                body=f"{word} {partner.first_name} private",
                created_at=T0,
            )
        )
    rows.append(Timer(couple_id=cid, kind="test.later", due_at=T0, created_at=T0))
    rows.append(
        Outbox(
            couple_id=cid,
            chat_id=couple.group_chat_id,
            state="sent",
            created_at=T0,
            body=f"{word} {a.first_name} answer 1 / {word} {b.first_name} answer 1",
        )
    )
    session.add_all(rows)
    session.flush()
    ids: dict[str, set[int]] = {
        "couple": {cid},
        "partner": {a.id or 0, b.id or 0},
        "checkin": {week.id or 0},
    }
    for row in rows:
        ids.setdefault(type(row).__tablename__, set()).add(row.id)
    assert set(ids) == set(COUPLE_TABLES)
    return ids


def _left(session: Session, ids: dict[str, set[int]]) -> dict[str, set[int]]:
    """Which of these rows still exist, table by table."""
    found: dict[str, set[int]] = {}
    for name, model in COUPLE_TABLES.items():
        query = select(model.id).where(model.id.in_(ids.get(name, set())))  # type: ignore[attr-defined]
        found[name] = set(session.exec(query))
    return found


def test_forget_empties_every_table_of_the_couple_and_keeps_the_other_couple(
    session: Session,
) -> None:
    couple, ana, ben = make_couple(session)
    other, cleo, dan = make_couple(
        session, group_id=OTHER_GROUP, names=("Cleo", "Dan"), user_ids=(CLEO_ID, DAN_ID)
    )
    ours = _fill_everything(session, couple, ana, ben, "ours")
    theirs = _fill_everything(session, other, cleo, dan, "theirs")
    session.commit()
    effects = _forget_press(session, in_private(ANA_ID, "Ana"), ana)
    assert keys(effects) == ["data.forgot_done", "data.forgot_group"]
    session.commit()
    assert _left(session, ours) == {name: set() for name in COUPLE_TABLES}
    assert _left(session, theirs) == theirs
    texts = " ".join(str(row.what) for row in session.exec(select(Promise)))
    assert "ours" not in texts and "theirs Cleo promise" in texts


# ---- /leave, deleting only one's own private answers -----------------------------------------


def test_leave_and_delete_removes_the_partners_text_from_every_table_that_holds_it(
    session: Session,
) -> None:
    couple, ana, ben = make_couple(session)
    other, cleo, dan = make_couple(
        session, group_id=OTHER_GROUP, names=("Cleo", "Dan"), user_ids=(CLEO_ID, DAN_ID)
    )
    ours = _fill_everything(session, couple, ana, ben, "ours")
    theirs = _fill_everything(session, other, cleo, dan, "theirs")
    session.commit()
    wipe = buttons.data(onboarding.LEAVE, ana.id or 0, "wipe")
    effects = _erasing_messages(
        session, buttons.handle_press(session, in_private(ANA_ID, "Ana"), wipe, T0)
    )
    assert "data.left_and_deleted" in keys(effects)
    session.commit()
    session.expire_all()
    for name, model in PARTNER_TEXT.items():
        of_ana = session.exec(select(model).where(model.partner_id == ana.id)).all()  # type: ignore[attr-defined]
        assert of_ana == [], name
        of_ben = session.exec(select(model).where(model.partner_id == ben.id)).all()  # type: ignore[attr-defined]
        assert of_ben, name
    # Every stored string of the couple, in every table, no longer carries Ana's words.
    for name, model in COUPLE_TABLES.items():
        for row in session.exec(select(model).where(model.id.in_(ours[name]))):  # type: ignore[attr-defined]
            assert "ours Ana" not in repr(row.model_dump()), name
    # Checks of her promises go with them; Ben's stay.
    checks = session.exec(select(PromiseCheck).where(PromiseCheck.couple_id == couple.id)).all()
    assert len(checks) == 1
    assert _left(session, theirs) == theirs


def test_leave_offers_to_delete_only_ones_own_private_answers(session: Session) -> None:
    _couple, ana, _ben = make_couple(session)
    asked = onboarding.leave(session, in_private(ANA_ID, "Ana"), "", T0)
    assert buttons.data(onboarding.LEAVE, ana.id or 0, "wipe") in button_data(sends(asked)[0])


def test_leaving_with_delete_removes_own_answers_and_keeps_the_partners(
    session: Session, gadgets: tuple[Table, Table]
) -> None:
    couple, ana, ben, other = _two_couples(session, gadgets)
    theirs = _snapshot(session, other.id or 0)
    wipe = buttons.data(onboarding.LEAVE, ana.id or 0, "wipe")
    effects = _erasing_messages(
        session, buttons.handle_press(session, in_private(ANA_ID, "Ana"), wipe, T0)
    )
    assert "data.left_and_deleted" in keys(effects)
    repairs = session.exec(select(Repair).where(Repair.couple_id == couple.id)).all()
    assert [r.partner_id for r in repairs] == [ben.id]
    gadget, part = gadgets
    notes = session.execute(select(gadget.c.note).where(gadget.c.couple_id == couple.id))
    assert [n for (n,) in notes] == ["ours gadget Ben"]
    assert session.execute(select(func.count()).select_from(part)).scalar_one() == 3
    assert not session.exec(select(Outbox).where(Outbox.partner_id == ana.id)).all()
    assert _snapshot(session, other.id or 0) == theirs


def test_leaving_without_delete_keeps_the_history(session: Session) -> None:
    couple, ana, _ben, _other = _two_couples(session)
    buttons.handle_press(
        session, in_private(ANA_ID, "Ana"), buttons.data(onboarding.LEAVE, ana.id or 0, "yes"), T0
    )
    repairs = session.exec(select(Repair).where(Repair.couple_id == couple.id)).all()
    assert sorted(r.partner_id for r in repairs) == sorted([ana.id or 0, _ben.id or 0])


# ---- encryption at rest -----------------------------------------------------------------------


def _raw_ownership(session: Session) -> list[str]:
    query = select(type_coerce(Repair.ownership, SAText()))  # type: ignore[arg-type]
    return [value for (value,) in session.execute(query)]


def test_secret_text_round_trips_and_is_unreadable_at_rest(session: Session, data_key: str) -> None:
    assert unseal(seal("I was short with you.")) == "I was short with you."
    _couple, ana, _ben, _other = _two_couples(session)
    session.commit()
    stored = _raw_ownership(session)
    assert stored and all(value.startswith(PREFIX) for value in stored)
    assert not any("owns" in value for value in stored)
    session.expire_all()
    read = session.exec(select(Repair).where(Repair.partner_id == ana.id)).one()
    assert read.ownership == "ours Ana owns"
    outbox = session.execute(select(type_coerce(Outbox.body, SAText()))).scalars().all()  # type: ignore[arg-type]
    assert all(body.startswith(PREFIX) for body in outbox)


def test_without_a_key_text_is_stored_plain(session: Session) -> None:
    _two_couples(session)
    session.commit()
    assert "pln1:ours Ana owns" in _raw_ownership(session)  # plain, and marked as plain


def test_a_wrong_key_fails_with_one_clear_error_naming_the_row(
    session: Session, data_key: str
) -> None:
    _two_couples(session)
    session.commit()
    configure_data_key(generate_key())
    session.expire_all()
    with pytest.raises(DataKeyError, match="does not open with DATA_KEY"):
        session.exec(select(Repair)).all()
    with pytest.raises(DataKeyError, match=r"\(table outbox, row 1\)"):
        check_data_key(session.connection(), SQLModel.metadata)


def test_encrypted_data_without_a_key_fails_clearly(session: Session, data_key: str) -> None:
    _two_couples(session)
    session.commit()
    configure_data_key(None)
    with pytest.raises(DataKeyError, match="encrypted but DATA_KEY is not set"):
        check_data_key(session.connection(), SQLModel.metadata)


def test_an_unreadable_row_is_logged_by_id_and_nothing_is_shown(
    engine: Engine, data_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    with session_scope(engine) as session:
        _two_couples(session)
    configure_data_key(generate_key())
    caplog.set_level(logging.ERROR)
    with pytest.raises(DataKeyError), session_scope(engine) as session:
        repairs = session.exec(select(Repair)).all()
        pytest.fail(f"garbage reached a flow: {repairs}")
    logged = caplog.text
    assert "repair row 1" in logged and "outbox row 1" in logged
    assert "owns" not in logged and PREFIX not in logged


def test_rotation_reencrypts_everything_with_the_new_key(engine: Engine, data_key: str) -> None:
    with session_scope(engine) as session:
        _two_couples(session)
    with session_scope(engine) as session:
        before = _raw_ownership(session)
    new = generate_key()
    configure_data_key(f"{new},{data_key}")
    with engine.begin() as connection:
        rewritten = rotate_stored_text(connection, SQLModel.metadata)
    # Four repairs with two texts each, and four outbox messages per couple.
    assert rewritten == 4 * 2 + 2 * 4
    with session_scope(engine) as session:
        after = _raw_ownership(session)
    assert all(value.startswith(PREFIX) for value in after)
    assert not set(before) & set(after)
    configure_data_key(new)
    with session_scope(engine) as session:
        assert {r.ownership for r in session.exec(select(Repair))} >= {"ours Ana owns"}
        check_data_key(session.connection(), SQLModel.metadata)
    configure_data_key(data_key)
    with pytest.raises(DataKeyError), session_scope(engine) as session:
        session.exec(select(Repair)).all()


def _run_bot(
    args: list[str], database: str, key: str | None, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATA_KEY", "BOT_TOKEN"}}
    env.update(
        BOT_TOKEN="123456789:start-up-check",
        DATABASE_URL=database,
        TELEGRAM_API_URL="http://127.0.0.1:9",
        PYTHONPATH=str(ROOT),
    )
    if key is not None:
        env["DATA_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.subprocess
def test_start_up_with_a_key_that_cannot_open_the_data_stops_with_one_line(
    tmp_path: Path, data_key: str
) -> None:
    url = f"sqlite:///{tmp_path / 'mend.db'}"
    database = make_engine(url)
    migrate(database)
    with session_scope(database) as session:
        _two_couples(session)
    database.dispose()
    for wrong in (generate_key(), None):
        finished = _run_bot([], url, wrong, tmp_path)
        assert finished.returncode == 2
        lines = [line for line in finished.stderr.splitlines() if line.startswith("mend:")]
        assert len(lines) == 1 and "DATA_KEY" in lines[0] and "table" in lines[0]
        assert "Traceback" not in finished.stderr
        assert "owns" not in finished.stderr + finished.stdout


@pytest.mark.subprocess
def test_rotate_key_command_moves_the_data_to_the_first_key(tmp_path: Path, data_key: str) -> None:
    url = f"sqlite:///{tmp_path / 'mend.db'}"
    database = make_engine(url)
    migrate(database)
    with session_scope(database) as session:
        _two_couples(session)
    new = generate_key()
    finished = _run_bot(["rotate-key"], url, f"{new},{data_key}", tmp_path)
    assert finished.returncode == 0, finished.stderr
    assert "stored texts now use the first key" in finished.stdout
    configure_data_key(new)
    with session_scope(database) as session:
        assert "ours Ana owns" in {r.ownership for r in session.exec(select(Repair))}
    database.dispose()


def test_timer_rows_carry_no_intimate_text(session: Session) -> None:
    # Timers are exported as "scheduled" and stored in plain text: their payload is ids only.
    _two_couples(session)
    assert all("owns" not in t.payload for t in session.exec(select(Timer)))


def test_export_includes_what_mend_posted_in_the_group_and_not_the_others_private_messages(
    session: Session,
) -> None:
    couple, ana, ben = make_couple(session)
    session.add_all(
        [
            Outbox(
                couple_id=couple.id,
                chat_id=GROUP_ID,
                body="Ana paused for 60 minutes.",
                state="sent",
                sent_at=T0,
                created_at=T0,
            ),
            Outbox(
                couple_id=couple.id,
                chat_id=GROUP_ID,
                body="",
                state="sent",
                sent_at=T0,
                created_at=T0,
            ),
            Outbox(
                couple_id=couple.id,
                partner_id=ana.id,
                chat_id=ANA_ID,
                body="for Ana only",
                state="sent",
                sent_at=T0,
                created_at=T0,
            ),
        ]
    )
    session.flush()
    document = _document(export(session, in_private(BEN_ID, "Ben"), "", T0))
    assert [post["text"] for post in document["group_posts"]] == ["Ana paused for 60 minutes."]
    assert "for Ana only" not in json.dumps(document)
    assert ben.id is not None
