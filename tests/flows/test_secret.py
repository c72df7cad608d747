"""Stored text says whether it is plain or encrypted, and rotating the key never brings
back what was deleted or changed meanwhile."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Engine, delete, insert, update
from sqlalchemy import Text as SAText
from sqlmodel import Session, SQLModel, select, type_coerce

from bot.db import session_scope
from bot.delivery.models import Outbox
from bot.texts import render
from flows import promises, secret
from flows.promises import Promise
from flows.secret import (
    PLAIN,
    PREFIX,
    check_data_key,
    configure_data_key,
    generate_key,
    rotate_stored_text,
    seal,
    unseal,
)
from tests.helpers import ANA_ID, GROUP_ID, T0, in_group, make_couple

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


def _raw_what(session: Session) -> list[str]:
    return [value for (value,) in session.execute(select(type_coerce(Promise.what, SAText())))]  # type: ignore[arg-type]


def test_plain_text_that_starts_like_a_token_reads_back_as_written() -> None:
    configure_data_key(None)
    for text in ("enc1:call mum daily", "enc1:", "pln1:x", "", "plain"):
        assert seal(text).startswith(PLAIN)
        assert unseal(seal(text)) == text
    assert unseal("an old unmarked value") == "an old unmarked value"


def test_a_promise_starting_with_enc1_is_kept_listed_and_passes_the_start_up_check(
    engine: Engine,
) -> None:
    configure_data_key(None)
    with session_scope(engine) as session:
        make_couple(session)
        promises.make_promise(session, in_group(ANA_ID, "Ana"), "enc1:call mum daily", T0)
    with session_scope(engine) as session:
        [what] = _raw_what(session)
        assert what == PLAIN + "enc1:call mum"
        listed = promises.list_promises(session, in_group(ANA_ID, "Ana"), "", T0)
        assert "enc1:call mum" in "".join(
            render(e.body)
            for e in listed  # type: ignore[union-attr]
            if hasattr(e, "body")
        )
        check_data_key(session.connection(), SQLModel.metadata)  # no "encrypted but no key"


def test_a_first_name_starting_with_enc1_reaches_the_outbox_and_reads_back(engine: Engine) -> None:
    configure_data_key(None)
    with session_scope(engine) as session:
        make_couple(session, names=("enc1:Ana", "Ben"))
        session.add(Outbox(couple_id=1, chat_id=GROUP_ID, body="enc1:Ana is in.", created_at=T0))
    with session_scope(engine) as session:
        [row] = session.exec(select(Outbox)).all()
        assert row.body == "enc1:Ana is in."
        check_data_key(session.connection(), SQLModel.metadata)


def _migration() -> Any:
    path = ROOT / "migrations" / "versions" / "0007_privacy_store_plain_marker.py"
    spec = importlib.util.spec_from_file_location("plain_marker", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_data_migration_marks_old_plain_values_and_leaves_tokens_alone(engine: Engine) -> None:
    key = generate_key()
    configure_data_key(key)
    token = seal("sealed before")
    configure_data_key(None)
    with session_scope(engine) as session:
        make_couple(session)
    raw: list[str] = ["old plain", "enc1:call mum daily", token, "", PLAIN + "done"]
    with engine.begin() as connection:
        for body in raw:  # as an older Mend stored them: unmarked
            connection.execute(
                insert(Outbox.__table__).values(  # type: ignore[attr-defined]
                    chat_id=GROUP_ID,
                    body=type_coerce(body, SAText()),
                    state="sent",
                    attempts=0,
                    created_at=T0,
                    private_only=False,
                )
            )
        with Operations.context(MigrationContext.configure(connection)):
            _migration().upgrade()
    with engine.connect() as connection:
        stored = [
            value
            for (value,) in connection.execute(
                select(type_coerce(Outbox.body, SAText())).order_by(Outbox.id)
            )
        ]  # type: ignore[arg-type]
    assert stored == [PLAIN + "old plain", PLAIN + "enc1:call mum daily", token, "", PLAIN + "done"]
    assert unseal(stored[1]) == "enc1:call mum daily"
    assert stored[2].startswith(PREFIX)
    configure_data_key(key)
    try:
        with engine.connect() as connection:
            check_data_key(connection, SQLModel.metadata)  # only the real token is "encrypted"
        assert unseal(stored[2]) == "sealed before"
    finally:
        configure_data_key(None)


def _two_promises(engine: Engine) -> None:
    with session_scope(engine) as session:
        make_couple(session)
        promises.make_promise(session, in_group(ANA_ID, "Ana"), "make tea daily", T0)
    with session_scope(engine) as session:
        promise = session.exec(select(Promise)).one()
        session.add(
            Promise(
                couple_id=promise.couple_id,
                partner_id=promise.partner_id,
                number=2,
                what="walk together weekly",
                repeat=promise.repeat,
                state=promise.state,
                created_at=T0,
            )
        )
        session.add(
            Outbox(
                couple_id=promise.couple_id,
                chat_id=GROUP_ID,
                state="sent",
                body="Ana promised: make tea",
                created_at=T0,
            )
        )


def test_rotation_never_brings_back_a_row_deleted_or_changed_while_it_ran(
    engine: Engine, data_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_promises(engine)
    with session_scope(engine) as session:
        first, second = session.exec(select(Promise).order_by(Promise.id)).all()
    real_rewrite = secret._rewrite
    interleaved: list[bool] = []

    def bot_writes_meanwhile(connection: Any, table: Any, column: Any, row: Any) -> int:
        # Between rotate-key's read and its first write, the running bot deletes one
        # promise (a /forget), rewords the other and erases a sent message's text.
        if not interleaved:
            interleaved.append(True)
            connection.execute(delete(Promise).where(Promise.id == first.id))  # type: ignore[arg-type]
            connection.execute(
                update(Promise)
                .where(Promise.id == second.id)  # type: ignore[arg-type]
                .values(what="walk together daily")
            )
            connection.execute(update(Outbox).values(body=type_coerce("", SAText())))
        return real_rewrite(connection, table, column, row)

    monkeypatch.setattr(secret, "_rewrite", bot_writes_meanwhile)
    configure_data_key(f"{generate_key()},{data_key}")
    with engine.begin() as connection:
        rotate_stored_text(connection, SQLModel.metadata)
    assert interleaved
    with session_scope(engine) as session:
        left = session.exec(select(Promise)).all()
        assert [(p.id, p.what) for p in left] == [(second.id, "walk together daily")]
        assert [row.body for row in session.exec(select(Outbox))] == [""]
