"""The ownership hint's rule, without a database: does an apology explain before it owns?"""

from __future__ import annotations

import pytest

from flows.repair.hint import explains_before_owning, says_sorry

EXPLAINING_FIRST = [
    "Sorry, but you know how tired I was.",
    "I'm sorry but I had a long day",
    "i'm really sorry, but you kept pushing",
    "I didn't mean it like that.",
    "I did not mean to hurt you",
    "You know I get quiet when I'm overwhelmed.",
    "Look, I was just stressed about work.",
    "I\u2019m sorry if you felt attacked.",
    "Because you didn't answer, I got angry.",
]
OWNING_FIRST = [
    "I snapped at you and made you carry the whole conversation.",
    "I'm sorry I raised my voice.",
    "I got defensive when you told me how you felt.",
    "I shut down instead of asking for a pause, but I want to do better.",
]


@pytest.mark.parametrize("answer", EXPLAINING_FIRST)
def test_an_apology_that_explains_first_is_recognised(answer: str) -> None:
    assert explains_before_owning(answer)


@pytest.mark.parametrize("answer", OWNING_FIRST)
def test_an_apology_that_owns_first_is_left_alone(answer: str) -> None:
    assert not explains_before_owning(answer)


@pytest.mark.parametrize(
    ("answer", "explains"),
    [
        ("Tut mir leid, aber du hast auch angefangen.", True),
        ("Sorry, aber ich war müde.", True),
        ("Ich wollte dich nicht verletzen.", True),
        ("Du weißt doch, dass ich das nicht so meine.", True),
        ("Ich war einfach gestresst.", True),
        ("Ich habe dich angeschrien, als du von deinem Tag erzählt hast.", False),
        ("Ich habe dir nicht zugehört und bin laut geworden.", False),
        # English openings are recognised for a German speaker too.
        ("I didn't mean to hurt you.", True),
    ],
)
def test_german_apologies_that_explain_first_are_recognised(answer: str, explains: bool) -> None:
    assert explains_before_owning(answer, "de") is explains


def test_an_apology_with_its_own_sorry_gets_no_second_one() -> None:
    assert says_sorry("I'm so sorry I snapped.")
    assert says_sorry("I apologise for shouting.")
    assert not says_sorry("I snapped at you.")
