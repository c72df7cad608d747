"""The demo's world and clock, without processes: who may act, what the page is given,
and how "next event" moves time."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import tornado.httpclient
import tornado.httpserver
from sqlmodel import Session

from bot.db import make_engine, migrate
from bot.delivery.models import Timer
from demo.server import make_app
from demo.world import PAST_DUE, DemoClock, World
from flows.models import Couple
from sandbox import BotApiSandbox
from sandbox.server import Params

GROUP_ID = -4000000001


@pytest.fixture
async def world() -> AsyncIterator[World]:
    sandbox = BotApiSandbox(bot_username="mend_demo_bot")
    await sandbox.start()
    try:
        yield World(sandbox)
    finally:
        await sandbox.stop()


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    path = tmp_path / "demo.db"
    migrate(make_engine(f"sqlite:///{path}"))
    return path


def add_rows(path: Path, *rows: object) -> None:
    engine = make_engine(f"sqlite:///{path}")
    with Session(engine) as session:
        for row in rows:
            session.add(row)
            session.commit()
    engine.dispose()


def test_only_the_owner_acts_in_a_private_chat_and_anyone_in_the_group(world: World) -> None:
    assert world.actor("group", "cleo").first_name == "Cleo"
    assert world.actor("ana", "ana").first_name == "Ana"
    with pytest.raises(PermissionError):
        world.actor("ana", "ben")
    with pytest.raises(LookupError):
        world.actor("cleo", "cleo")  # the stranger has no private chat in the demo
    with pytest.raises(LookupError):
        world.actor("group", "mallory")


async def test_the_page_gets_buttons_force_reply_replies_and_demo_time(world: World) -> None:
    sandbox = world.sandbox
    world.add_bot()
    world.clock_offset = lambda: 3600.0
    asked = await sandbox.user_sends(world.users["ana"], world.group, "/start")
    status, _ = await sandbox.handle(
        "123:abcdefghij",
        "sendMessage",
        _params(
            chat_id=world.group.id,
            text="What would help?",
            reply_markup='{"force_reply": true, "input_field_placeholder": "A few words"}',
            reply_parameters=f'{{"message_id": {asked.message_id}}}',
        ),
    )
    assert status == 200
    views = world.snapshot()["messages"]["group"]
    assert views[0]["service"] == "Ana added Mend"
    question = views[-1]
    assert question["from"] == "bot" and question["force_reply"] is True
    assert question["placeholder"] == "A few words"
    assert question["reply_to"] == {"id": asked.message_id, "name": "Ana", "text": "/start"}
    message = sandbox.message(world.group, question["id"])
    assert message is not None
    assert question["date"] == message.date + 3600  # demo time, not wall-clock time
    world.clock_offset = lambda: 7200.0
    assert world.message_view(message)["date"] == question["date"]  # stamped once


def _params(**values: object) -> Params:
    return Params({key: str(value) for key, value in values.items()})


def test_next_event_moves_time_just_past_the_earliest_pending_timer(
    demo_db: Path, tmp_path: Path
) -> None:
    clock = DemoClock(tmp_path / "clock", demo_db, GROUP_ID)
    assert clock.to_next_event() is None
    assert clock.offset() < timedelta(seconds=1)

    now = datetime.now(UTC)
    couple = Couple(
        id=1, group_chat_id=GROUP_ID, title="Ana & Ben", timezone="Europe/Lisbon", created_at=now
    )
    add_rows(
        demo_db,
        couple,
        Timer(couple_id=1, kind="x", due_at=now + timedelta(hours=5), created_at=now),
        Timer(couple_id=1, kind="x", due_at=now + timedelta(hours=2), created_at=now),
        Timer(
            couple_id=1, kind="x", due_at=now + timedelta(minutes=1), state="done", created_at=now
        ),
    )
    assert clock.zone() == "Europe/Lisbon"
    due = clock.to_next_event()
    assert due is not None and abs(due - (now + timedelta(hours=2))) < timedelta(seconds=1)
    assert due < clock.now() < due + PAST_DUE + timedelta(seconds=1)
    assert float((tmp_path / "clock").read_text()) == pytest.approx(7200, abs=2)
    view = clock.view()
    assert view["zone"] == "Europe/Lisbon" and view["next_due"] == due.isoformat()


def test_without_a_database_the_clock_shows_utc_and_nothing_scheduled(tmp_path: Path) -> None:
    clock = DemoClock(tmp_path / "clock", tmp_path / "missing.db", GROUP_ID)
    assert clock.zone() == "UTC" and clock.next_due() is None
    clock.advance(timedelta(minutes=15))
    assert clock.view()["offset_ms"] == pytest.approx(900_000, abs=1000)


# ---- the people's Telegram language ------------------------------------------------------


async def test_the_demo_people_can_use_telegram_in_german() -> None:
    sandbox = BotApiSandbox(bot_username="mend_demo_bot")
    await sandbox.start()
    try:
        world = World(sandbox, language="de")
        assert {user.to_api()["language_code"] for user in world.users.values()} == {"de"}
        snapshot = world.snapshot()
        assert snapshot["language"] == "de"
        assert {"code": "de", "name": "Deutsch"} in snapshot["languages"]
        sent = await sandbox.user_sends(world.users["ben"], world.group, "/start")
        assert sent.from_user is not None and sent.from_user.language_code == "de"
        world.set_language("en")
        assert world.users["cleo"].to_api()["language_code"] == "en"
        with pytest.raises(LookupError):
            world.set_language("tlh")
        assert world.language == "en"
    finally:
        await sandbox.stop()


async def test_the_page_switches_the_language_through_the_api(world: World) -> None:
    demo = SimpleNamespace(world=world, options=SimpleNamespace(host="127.0.0.1"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = tornado.httpserver.HTTPServer(make_app(demo))  # type: ignore[arg-type]
    server.listen(port, "127.0.0.1")
    client = tornado.httpclient.AsyncHTTPClient()
    try:

        async def post(language: str) -> tornado.httpclient.HTTPResponse:
            return await client.fetch(
                f"http://127.0.0.1:{port}/api/language",
                method="POST",
                raise_error=False,
                headers={"Content-Type": "application/json"},
                body=json.dumps({"language": language}),
            )

        switched = await post("de")
        assert switched.code == 200 and json.loads(switched.body)["language"] == "de"
        assert world.users["ana"].language_code == "de"
        refused = await post("tlh")
        assert refused.code == 400 and world.users["ana"].language_code == "de"
    finally:
        server.stop()
