"""Delivery keeps private things private, and no input or failure stops other messages."""

from __future__ import annotations

import logging
import string
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy import Text as SAText
from sqlalchemy.exc import StatementError
from sqlmodel import Session, select, type_coerce
from telegram.error import BadRequest, ChatMigrated, Forbidden

from bot.clock import FixedClock
from bot.db import session_scope
from bot.delivery.chats import latest_question
from bot.delivery.models import Outbox, OutboxKind, OutboxState, Timer
from bot.delivery.outbox import persist
from bot.runtime import MAX_SEND_ATTEMPTS, SEND_CLAIM_TIMEOUT, WAIT_FOR_PRIVATE_CHAT
from bot.texts import catalogue, render
from flows import onboarding
from flows.models import Couple, Partner
from flows.outcome import (
    FALLBACK_KEYS,
    PRIVATE_ONLY_PREFIXES,
    MoveChat,
    Send,
    SetTimer,
    Text,
    ToGroup,
    ToPartner,
)
from flows.secret import configure_data_key, generate_key
from tests.bot.test_runtime import REMINDER, FakeBot, runtime_for, seed_reminder, settle
from tests.helpers import ANA_ID, BEN_ID, GROUP_ID, T0, in_private, make_couple

NEW_GROUP_ID = -100999
SECRET_WORDS = "my-private-words-4411"


@pytest.fixture
def engine(any_engine: Engine) -> Engine:
    """These storage rules run on SQLite and, when configured, on PostgreSQL."""
    return any_engine


def filled(key: str, **values: Any) -> Text:
    """The catalogue text `key` with every placeholder filled (given values, else words
    no other text contains)."""
    fields = {name for _, name, _, _ in string.Formatter().parse(catalogue("en")[key]) if name}
    return Text(key, {name: values.get(name, SECRET_WORDS) for name in fields})


def rows(engine: Engine, **where: Any) -> list[Outbox]:
    with Session(engine) as session:
        query = select(Outbox).order_by(Outbox.id)  # type: ignore[arg-type]
        for name, value in where.items():
            query = query.where(getattr(Outbox, name) == value)
        return list(session.exec(query))


def couple_without_private_chats(engine: Engine) -> tuple[int, int, int]:
    with session_scope(engine) as session:
        couple, ana, ben = make_couple(session, private_open=False)
        return couple.id or 0, ana.id or 0, ben.id or 0


# ---- a row that cannot be read stops no other row -------------------------------------------


async def test_an_unreadable_outbox_row_is_marked_failed_and_stops_no_other_row(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    configure_data_key(generate_key())
    try:
        with session_scope(engine) as session:
            couple, _ana, _ben = make_couple(session)
            persist(
                session,
                [Send(ToGroup(couple.id or 0), Text("onboarding.welcome_back"))],
                T0,
                claim=False,
            )
        with engine.begin() as connection:  # damaged, or written with another key
            connection.execute(
                insert(Outbox.__table__).values(  # type: ignore[attr-defined]
                    chat_id=GROUP_ID,
                    body=type_coerce(f"enc1:{SECRET_WORDS}", SAText()),
                    state="pending",
                    attempts=0,
                    created_at=T0,
                    private_only=False,
                )
            )
        with session_scope(engine) as session:
            persist(session, [Send(ToGroup(1), Text("onboarding.welcome_back"))], T0, claim=False)
        bot = FakeBot()
        caplog.set_level(logging.INFO)
        await settle(runtime_for(engine, FixedClock(T0), bot))
        assert len(bot.texts(GROUP_ID)) == 2
        with Session(engine) as session:
            states = session.exec(select(Outbox.state).order_by(Outbox.id)).all()  # type: ignore[arg-type]
        assert states == ["sent", "failed", "sent"]
        assert "outbox row 2" in caplog.text and SECRET_WORDS not in caplog.text
    finally:
        configure_data_key(None)


# ---- a private message answers the latest question delivered ------------------------------


def test_private_text_answers_the_latest_question_delivered_not_one_still_waiting(
    engine: Engine,
) -> None:
    with session_scope(engine) as session:
        make_couple(session)
        later = T0 + timedelta(minutes=5)
        session.add_all(
            [
                # Sent first in id order, but delivered last (it had to be retried).
                Outbox(
                    chat_id=ANA_ID,
                    body="q",
                    tag="repair:1",
                    state="sent",
                    sent_at=later,
                    created_at=T0,
                ),
                Outbox(
                    chat_id=ANA_ID,
                    body="q",
                    tag="promises:1:words",
                    state="sent",
                    sent_at=T0 + timedelta(minutes=1),
                    created_at=T0,
                ),
                # Asked, but not delivered yet: nobody has seen it.
                Outbox(
                    chat_id=ANA_ID, body="q", tag="checkin:1:1:1", state="pending", created_at=later
                ),
                Outbox(
                    chat_id=ANA_ID, body="q", tag="checkin:1:1:2", state="sending", created_at=later
                ),
                Outbox(
                    chat_id=ANA_ID, body="q", tag="checkin:1:1:3", state="failed", created_at=later
                ),
                Outbox(
                    chat_id=BEN_ID,
                    body="q",
                    tag="repair:9",
                    state="sent",
                    sent_at=later + timedelta(minutes=1),
                    created_at=later,
                ),
            ]
        )
    with session_scope(engine) as session:
        assert latest_question(session, ANA_ID) == "repair:1"
        assert latest_question(session, 424242) is None


async def test_a_refused_message_is_never_counted_as_delivered(engine: Engine) -> None:
    seed_reminder(engine)
    bot = FakeBot(failures={GROUP_ID: [BadRequest("Bad Request: odd")]})
    await settle(runtime_for(engine, FixedClock(T0), bot))
    [row] = rows(engine)
    assert row.state == "failed" and row.sent_at is None


# ---- what is meant for one partner never goes to the group ---------------------------------

PRIVATE_KINDS = sorted(
    key
    for key in catalogue("en")
    if key.startswith(PRIVATE_ONLY_PREFIXES) and not key.split(".", 1)[1].startswith("button_")
)


def test_every_private_only_prefix_names_real_messages() -> None:
    for prefix in PRIVATE_ONLY_PREFIXES:
        assert any(key.startswith(prefix) for key in PRIVATE_KINDS), prefix


@pytest.mark.parametrize("key", PRIVATE_KINDS)
async def test_a_private_only_message_waits_and_the_group_only_hears_something_waits(
    engine: Engine, key: str
) -> None:
    couple_id, ana_id, _ben_id = couple_without_private_chats(engine)
    with session_scope(engine) as session:
        persist(session, [Send(ToPartner(ana_id), filled(key))], T0, claim=False)
        persist(session, [Send(ToPartner(ana_id), filled(key))], T0, claim=False)
    bot = FakeBot()
    runtime = runtime_for(engine, FixedClock(T0), bot)
    await settle(runtime)
    [line] = bot.texts(GROUP_ID)  # once, however many messages wait
    assert line == render(Text("delivery.private_waiting", {"name": "Ana"}))
    expected = render(filled(key))
    assert SECRET_WORDS not in line and expected not in line
    assert [row.state for row in rows(engine, chat_id=ANA_ID)] == ["waiting", "waiting"]
    [notice] = rows(engine, chat_id=GROUP_ID)
    assert notice.markup and "start=c" in notice.markup  # the button opens the private chat

    # Ana opens her private chat: what waited for it arrives there, in order.
    await runtime.run(lambda s, now: onboarding.start(s, in_private(ANA_ID, "Ana"), "", "UTC", now))
    await settle(runtime)
    private = bot.texts(ANA_ID)
    assert sum(expected in text for text in private) == 2, private
    assert len(bot.texts(GROUP_ID)) == 1
    assert couple_id


@pytest.mark.parametrize(
    "key", ["pause.ready_question", "promises.kept_told", "promises.told_other"]
)
async def test_a_message_meant_for_both_goes_to_the_group_addressed_to_the_partner(
    engine: Engine, key: str
) -> None:
    _couple_id, ana_id, _ben_id = couple_without_private_chats(engine)
    with session_scope(engine) as session:
        persist(session, [Send(ToPartner(ana_id), filled(key))], T0, claim=False)
    bot = FakeBot()
    await settle(runtime_for(engine, FixedClock(T0), bot))
    [text] = bot.texts(GROUP_ID)
    assert text.startswith("For Ana:") and SECRET_WORDS in text


async def test_a_checkin_question_asked_for_a_reply_in_the_group_is_the_one_exception(
    engine: Engine,
) -> None:
    _couple_id, ana_id, _ben_id = couple_without_private_chats(engine)
    with session_scope(engine) as session:
        persist(
            session,
            [Send(ToPartner(ana_id), filled("checkin.ask"), force_reply=True, tag="checkin:1:1:1")],
            T0,
            claim=False,
        )
    bot = FakeBot()
    await settle(runtime_for(engine, FixedClock(T0), bot))
    [text] = bot.texts(GROUP_ID)
    assert text.startswith("For Ana:") and SECRET_WORDS in text


async def test_a_partner_who_blocked_the_bot_gets_private_only_messages_later_not_in_the_group(
    engine: Engine,
) -> None:
    with session_scope(engine) as session:
        _couple, ana, _ben = make_couple(session)
        persist(session, [Send(ToPartner(ana.id or 0), filled("promises.nudge"))], T0, claim=False)
    bot = FakeBot(failures={ANA_ID: [Forbidden("Forbidden: bot was blocked by the user")]})
    runtime = runtime_for(engine, FixedClock(T0), bot)
    await settle(runtime)
    await settle(runtime)
    assert bot.texts(GROUP_ID) == [render(Text("delivery.private_waiting", {"name": "Ana"}))]
    assert [row.state for row in rows(engine, chat_id=ANA_ID)] == ["waiting"]
    await runtime.run(lambda s, now: onboarding.start(s, in_private(ANA_ID, "Ana"), "", "UTC", now))
    await settle(runtime)
    assert any(SECRET_WORDS in text for text in bot.texts(ANA_ID))


async def test_what_waited_days_for_a_private_chat_is_dropped_not_delivered_late(
    engine: Engine,
) -> None:
    _couple_id, ana_id, _ben_id = couple_without_private_chats(engine)
    with session_scope(engine) as session:
        persist(session, [Send(ToPartner(ana_id), filled("promises.nudge"))], T0, claim=False)
    clock = FixedClock(T0)
    bot = FakeBot()
    runtime = runtime_for(engine, clock, bot)
    await settle(runtime)
    clock.advance(WAIT_FOR_PRIVATE_CHAT + timedelta(minutes=1))
    runtime.purge_delivered()
    await runtime.run(lambda s, now: onboarding.start(s, in_private(ANA_ID, "Ana"), "", "UTC", now))
    await settle(runtime)
    assert not any(SECRET_WORDS in text for text in bot.texts(ANA_ID))
    assert [row.state for row in rows(engine, chat_id=ANA_ID) if row.key == "promises.nudge"] == [
        "failed"
    ]


# ---- failures end, and the couple still hears what matters ----------------------------------


async def test_every_claim_counts_so_a_row_whose_sender_keeps_dying_ends_failed(
    engine: Engine,
) -> None:
    with session_scope(engine) as session:
        couple, _ana, _ben = make_couple(session)
        persist(
            session,
            [Send(ToGroup(couple.id or 0), Text("onboarding.welcome_back"))],
            T0,
            claim=False,
        )
    clock = FixedClock(T0)
    runtime = runtime_for(engine, clock, FakeBot())
    for _ in range(MAX_SEND_ATTEMPTS):
        assert len(runtime._claim_outbox()) == 1  # claimed; the process dies before sending
        clock.advance(SEND_CLAIM_TIMEOUT + timedelta(seconds=1))
    assert runtime._claim_outbox() == []
    [row] = rows(engine)
    assert row.state == "failed" and row.attempts == MAX_SEND_ATTEMPTS


async def test_an_unexpected_error_is_retried_with_backoff_then_ends_failed(engine: Engine) -> None:
    seed_reminder(engine)

    class BrokenBot(FakeBot):
        calls = 0

        async def send_message(self, chat_id: int, text: str, reply_markup: Any = None) -> Any:
            BrokenBot.calls += 1
            raise RuntimeError("something nobody expected")

    clock = FixedClock(T0)
    runtime = runtime_for(engine, clock, BrokenBot())
    for _ in range(3 * MAX_SEND_ATTEMPTS):
        await settle(runtime)
        clock.advance(timedelta(minutes=11))
    [row] = rows(engine)
    assert row.state == "failed" and BrokenBot.calls == MAX_SEND_ATTEMPTS


@pytest.mark.parametrize("key", sorted(FALLBACK_KEYS))
async def test_a_refused_message_that_carried_the_couples_state_leaves_a_simpler_one(
    engine: Engine, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    with session_scope(engine) as session:
        couple, _ana, _ben = make_couple(session)
        persist(session, [Send(ToGroup(couple.id or 0), filled(key))], T0, claim=False)
    bot = FakeBot(failures={GROUP_ID: [BadRequest("Bad Request: message is too long")]})
    runtime = runtime_for(engine, FixedClock(T0), bot)
    caplog.set_level(logging.INFO)
    await settle(runtime)
    await settle(runtime)
    assert bot.texts(GROUP_ID) == [render(filled(FALLBACK_KEYS[key]))]
    assert runtime.refused[key] == 1
    assert key in caplog.text and SECRET_WORDS not in caplog.text
    assert [row.state for row in rows(engine)] == ["failed", "sent"]


async def test_a_group_moving_to_a_supergroup_where_someone_sent_start_keeps_its_couple(
    engine: Engine,
) -> None:
    couple_id = seed_reminder(engine)
    with session_scope(engine) as session:  # /start in the new supergroup came first
        onboarding.ensure_couple(session, NEW_GROUP_ID, "Ana & Ben", "UTC", T0)
    bot = FakeBot(failures={GROUP_ID: [ChatMigrated(NEW_GROUP_ID)]})
    await settle(runtime_for(engine, FixedClock(T0), bot))
    assert len(bot.texts(NEW_GROUP_ID)) == 1
    with Session(engine) as session:
        [couple] = session.exec(select(Couple)).all()
        assert couple.id == couple_id and couple.group_chat_id == NEW_GROUP_ID
        assert len(session.exec(select(Partner)).all()) == 2


def test_the_migration_update_moves_the_couple_too_when_the_new_chat_has_one(
    engine: Engine,
) -> None:
    with session_scope(engine) as session:
        couple, _ana, _ben = make_couple(session)
        empty = onboarding.ensure_couple(session, NEW_GROUP_ID, "Ana & Ben", "UTC", T0)
        # The empty couple's own reminder goes with it (its timer row points at it).
        persist(session, [SetTimer(REMINDER, empty.id or 0, T0)], T0, claim=False)
        effects = onboarding.migrate_chat(session, GROUP_ID, NEW_GROUP_ID)
        assert effects == [MoveChat(GROUP_ID, NEW_GROUP_ID)]
        assert couple.group_chat_id == NEW_GROUP_ID
        assert len(session.exec(select(Couple)).all()) == 1
        assert [timer.couple_id for timer in session.exec(select(Timer))] == []


async def test_with_a_data_key_old_text_is_erased_once_not_rewritten_every_hour(
    engine: Engine,
) -> None:
    configure_data_key(generate_key())
    try:
        seed_reminder(engine)
        clock = FixedClock(T0)
        runtime = runtime_for(engine, clock, FakeBot())
        await settle(runtime)
        clock.advance(timedelta(days=4))

        def stored() -> list[str]:
            with engine.connect() as connection:
                return [
                    value
                    for (value,) in connection.execute(select(type_coerce(Outbox.body, SAText())))
                ]  # type: ignore[arg-type]

        runtime.purge_delivered()
        erased = stored()
        runtime.purge_delivered()
        assert stored() == erased == [""]
        [row] = rows(engine)
        assert row.body == ""
    finally:
        configure_data_key(None)


def test_a_misspelt_state_is_refused_not_stored(engine: Engine) -> None:
    with pytest.raises(StatementError), session_scope(engine) as session:
        session.add(Outbox(chat_id=GROUP_ID, body="hi", state="sendng", created_at=T0))  # type: ignore[arg-type]
    with session_scope(engine) as session:
        assert session.exec(select(Outbox)).all() == []
        session.add(Outbox(chat_id=GROUP_ID, body="hi", state=OutboxState.SENT, created_at=T0))
    with session_scope(engine) as session:
        [row] = session.exec(select(Outbox)).all()
        assert row.state is OutboxState.SENT and row.kind is OutboxKind.SEND
