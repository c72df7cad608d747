"""The weekly questions in Mend's own words: each partner speaks of their own week."""

from __future__ import annotations

from bot.texts import render
from flows.outcome import text


def test_question_two_asks_about_your_own_experience_not_what_you_did_unnoticed() -> None:
    asked = render(text("checkin.q2"))
    # Nobody can report what they did without noticing; everyone can say how a moment felt.
    assert "without noticing" not in asked and "Might you" not in asked
    assert "your partner" in asked and "for you" in asked and "gently" in asked
    assert render(text("checkin.title2")) == "A moment that was harder for me"


def test_question_one_and_its_title_are_mends_own_words() -> None:
    asked, title = render(text("checkin.q1")), render(text("checkin.title1"))
    assert "still use some care" not in asked and "still needs care" not in asked.lower()
    assert title == "Still on my mind"
