"""Repair, export and forget end to end, with DATA_KEY set, and two couples side by side.

The real bot process writes a repair message step by step and posts it, sends a JSON
export as a document to the private chat, and /forget empties the database of one
couple while the other couple's rows stay. The captured log of the whole run carries no
message text, no answer and no token.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel

from bot.db import make_engine
from flows.data_rights import couple_rows
from flows.features import load_all
from flows.secret import generate_key
from sandbox import SimChat, SimUser
from sandbox.testing import TEST_TOKEN
from tests.e2e.harness import Scene, form_couple, scene

pytestmark = pytest.mark.e2e

OWNERSHIP_FIRST = "Sorry, but the day had been long."
OWNERSHIP = "I cut you off when you told me about your sister."
IMPACT = "You probably felt that your worry did not matter to me."
CHANGE = "Next time I will let you finish before I answer."
NEED = "Would a walk together after dinner help tonight?"
THEIR_ANSWER = "I rolled my eyes at the dinner table yesterday."


@pytest.fixture
async def keyed_world(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Scene]:
    async with scene(sqlite_url, tmp_path, DATA_KEY=generate_key()) as running:
        yield running


async def _form_second_couple(world: Scene) -> tuple[SimChat, SimUser, SimUser]:
    """Cleo and Dan in their own group, before either opened the private chat."""
    sandbox = world.sandbox
    dan = sandbox.add_user("Dan", "dan")
    group = sandbox.create_group("Cleo & Dan", [world.cleo, dan])
    sandbox.add_bot_to_group(group, by=world.cleo)
    await world.expect(group, "I'm Mend")
    await world.say(world.cleo, group, "/start")
    invite = await world.expect(group, "I'm in")
    await world.press(world.cleo, invite, "I'm in")
    await world.expect(group, "Cleo is in")
    await world.press(dan, invite, "I'm in")
    await world.expect(group, "you're set up")
    return group, world.cleo, dan


def _count(url: str, couple_id: int) -> dict[str, int]:
    """Rows of one couple in every table (counts only: secret text is not read)."""
    load_all()
    engine = make_engine(url)
    found: dict[str, int] = {}
    with engine.connect() as connection:
        select_rows = couple_rows(couple_id)
        for table in SQLModel.metadata.sorted_tables:
            condition = select_rows(table)
            if condition is not None:
                query = select(func.count()).select_from(table).where(condition)
                found[table.name] = int(connection.execute(query).scalar_one())
    engine.dispose()
    return found


async def test_repair_posted_export_received_forget_empties_only_that_couple(
    keyed_world: Scene, sqlite_url: str, tmp_path: Path
) -> None:
    world = keyed_world
    group, ana, ben = world.group, world.ana, world.ben
    await form_couple(world)
    other_group, cleo, _dan = await _form_second_couple(world)

    # The second couple: Cleo starts a repair in the group before she opened the private
    # chat. Its steps are for her alone, so they wait; the group hears only that something
    # waits for her. Once she opens the private chat, she answers the first question there.
    await world.say(cleo, other_group, "/repair")
    await world.expect(other_group, "I have something for you in private")
    cleo_private = world.private(cleo)
    cleo_mark = world.last_id(cleo_private)
    await world.say(cleo, cleo_private, "/start")
    choice = await world.expect(cleo_private, "Where would you like to start?", after=cleo_mark)
    await world.press(cleo, choice, "I want to apologise")
    await world.expect(cleo_private, "Step 1 of 4", after=cleo_mark)
    await world.say(cleo, cleo_private, THEIR_ANSWER)
    await world.expect(cleo_private, "Step 2 of 4", after=cleo_mark)

    # Ana writes a repair privately, gets the hint once, rewrites, and posts.
    private = world.private(ana)
    mark = world.last_id(private)
    await world.say(ana, group, "/repair")
    await world.expect(group, "let's go on in our private chat")
    choice = await world.expect(private, "Where would you like to start?", after=mark)
    await world.press(ana, choice, "I want to apologise")
    await world.expect(private, "Step 1 of 4", after=mark)
    await world.say(ana, private, OWNERSHIP_FIRST)
    await world.expect(private, "your part comes first", after=mark)
    await world.say(ana, private, OWNERSHIP)
    await world.expect(private, "Step 2 of 4", after=mark)
    await world.say(ana, private, IMPACT)
    await world.expect(private, "Step 3 of 4", after=mark)
    await world.say(ana, private, CHANGE)
    await world.expect(private, "Step 4 of 4", after=mark)
    group_mark = world.last_id(group)
    await world.say(ana, private, NEED)
    review = await world.expect(private, "as Ben will read it", after=mark)
    assert OWNERSHIP in (review.text or "") and OWNERSHIP_FIRST not in (review.text or "")
    # Nothing in the group before Ana taps Post.
    assert world.last_id(group) == group_mark
    await world.press(ana, review, "Post it")
    posted = await world.expect(group, "Ben,\n\nI'm sorry. ", after=group_mark)
    for answer in (OWNERSHIP, IMPACT, CHANGE, NEED):
        assert answer in (posted.text or "")

    # At rest, the answers are not readable in the database files.
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("mend.db*"))
    for answer in (OWNERSHIP, IMPACT, THEIR_ANSWER):
        assert answer.encode() not in stored

    # /export from the group: a document in Ana's private chat, a pointer in the group.
    group_mark, mark = world.last_id(group), world.last_id(private)
    await world.say(ana, group, "/export")
    await world.expect(group, "sent the copy to your private chat", after=group_mark)
    received = await world.expect(private, lambda m: m.document is not None, after=mark)
    assert received.document is not None
    assert received.document.file_name and received.document.file_name.endswith(".json")
    document = json.loads(received.document.data)
    couple_id = document["couple"]["id"]
    assert [p["first_name"] for p in document["partners"]] == ["Ana", "Ben"]
    assert [r["ownership"] for r in document["tables"]["repair"]] == [OWNERSHIP]
    assert THEIR_ANSWER not in received.document.data.decode()
    assert not any(m.document for m in world.sandbox.messages(group))

    before = _count(sqlite_url, couple_id)
    assert before["couple"] == 1 and before["partner"] == 2 and before["repair"] == 1
    theirs_id = couple_id + 1
    theirs = _count(sqlite_url, theirs_id)
    assert theirs["couple"] == 1 and theirs["repair"] == 1 and theirs["partner"] == 2

    # /forget: Ben's press does not count; Ana's does; the group is told.
    group_mark = world.last_id(group)
    await world.say(ana, group, "/forget")
    confirm = await world.expect(group, "only you can confirm", after=group_mark)
    answer = await world.press(ben, confirm, "Yes, delete everything")
    assert "Only Ana can confirm" in str(answer.get("text"))
    assert _count(sqlite_url, couple_id) == before
    await world.press(ana, confirm, "Yes, delete everything")
    await world.expect(group, "has been deleted", after=group_mark)
    assert all(count == 0 for count in _count(sqlite_url, couple_id).values())
    assert _count(sqlite_url, theirs_id) == theirs

    # The bot now treats the group as new.
    group_mark = world.last_id(group)
    await world.say(ben, group, "/start")
    await world.expect(group, "Both of you: tap", after=group_mark)

    # The other couple carries on where it was.
    mark = world.last_id(other_group)
    await world.say(cleo, other_group, "/repair")
    await world.expect(other_group, "step 2 of 4", after=mark)

    # Nothing personal in the log of the whole run.
    await world.bot.stop()
    logs = world.bot.logs()
    assert "Mend is ready" in logs
    secrets = [
        TEST_TOKEN,
        TEST_TOKEN.split(":")[1],
        OWNERSHIP_FIRST,
        OWNERSHIP,
        IMPACT,
        CHANGE,
        NEED,
        THEIR_ANSWER,
        "I'm sorry",
        "has been deleted",
        "Step 1 of 4",
    ]
    for secret in secrets:
        assert secret not in logs, secret
    print("\n".join(world.transcript))


async def test_an_export_that_cannot_reach_the_private_chat_says_so(world: Scene) -> None:
    await form_couple(world)
    world.sandbox.block_bot(world.ben)
    mark = world.last_id(world.group)
    await world.say(world.ben, world.group, "/export")
    await world.expect(world.group, "didn't go through", after=mark)
    assert not any(
        "sent the copy" in (m.text or "")
        for m in world.sandbox.bot_messages(world.group)
        if m.message_id > mark
    )
