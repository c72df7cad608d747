"""How much one claim of the outbox takes: the oldest rows of at most `max_chats` chats, at
most PER_CHAT_CLAIM rows of each, so a claim is sent well within its timeout."""

from __future__ import annotations

from sqlalchemy import Engine

from bot.clock import FixedClock
from bot.db import session_scope
from bot.delivery.outbox import persist, split_long
from bot.runtime import PER_CHAT_CLAIM, Runtime
from flows.outcome import Send, Text, ToChat
from tests.helpers import T0

HELLO = Text("onboarding.welcome_back")


def _queue(engine: Engine, chats: list[int]) -> None:
    with session_scope(engine) as session:
        persist(session, [Send(ToChat(chat), HELLO) for chat in chats], T0, claim=False)


def test_a_claim_takes_the_oldest_chats_up_to_its_limit(engine: Engine) -> None:
    _queue(engine, [11, 22, 33, 11])
    claimed = Runtime(engine, FixedClock(T0))._claim_outbox(max_chats=2)
    assert sorted(row.chat_id for row in claimed) == [11, 11, 22]


def test_a_claim_takes_at_most_its_share_of_one_chat(engine: Engine) -> None:
    _queue(engine, [11] * (PER_CHAT_CLAIM + 1) + [22])
    claimed = Runtime(engine, FixedClock(T0))._claim_outbox()
    assert [row.chat_id for row in claimed].count(11) == PER_CHAT_CLAIM
    assert [row.chat_id for row in claimed].count(22) == 1


def test_a_long_message_is_split_between_lines_and_keeps_every_line() -> None:
    lines = [f"line {index} " + "x" * 90 for index in range(100)]
    parts = split_long("\n".join(lines))
    assert len(parts) == 3 and all(len(part) <= 4096 for part in parts)
    assert [line for part in parts for line in part.split("\n")] == lines


def test_one_line_over_the_limit_after_short_ones_is_cut_hard_and_nothing_is_lost() -> None:
    body = "a short line\n" + "y" * 5000 + "\nthe end"
    assert split_long(body) == ["a short line", "y" * 4096, "y" * 904 + "\nthe end"]
