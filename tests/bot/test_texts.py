"""The text layer: which catalogue a person gets, and dates, times and plurals by Babel."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time

import pytest

from bot import texts
from bot.texts import format_value, normalize, render, resolve
from flows.outcome import ClockTime, Day, Length, Moment, Text, Weekday

EVENING = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)  # a Sunday; 19:00 in Berlin


@pytest.mark.parametrize(
    ("code", "stored", "catalogue"),
    [
        ("de", "de", "de"),
        ("de-AT", "de_AT", "de"),
        ("DE_ch", "de_CH", "de"),
        ("pt-br", "pt_BR", "en"),
        ("en-US", "en_US", "en"),
        (None, "en", "en"),
        ("", "en", "en"),
        ("x-klingon", "en", "en"),
        ("12", "en", "en"),
    ],
)
def test_a_telegram_language_code_finds_its_catalogue(
    code: str | None, stored: str, catalogue: str
) -> None:
    assert normalize(code) == stored
    assert resolve(code) == catalogue


def test_a_regional_catalogue_wins_over_its_language(monkeypatch: pytest.MonkeyPatch) -> None:
    resolve.cache_clear()
    monkeypatch.setattr(texts, "languages", lambda: ("en", "de", "pt", "pt_BR"))
    try:
        assert resolve("pt-br") == "pt_BR"
        assert resolve("pt-pt") == "pt"
        assert resolve("fr") == "en"
    finally:
        resolve.cache_clear()


@pytest.mark.parametrize(
    ("value", "language", "shown"),
    [
        (Moment(EVENING, "Europe/Berlin"), "en", "Sun 29 Nov, 19:00"),
        (Moment(EVENING, "Europe/Berlin"), "de", "So., 29. Nov. um 19:00"),
        (Moment(EVENING, "Europe/Berlin", "time"), "en_US", "7:00\u202fPM"),
        (Moment(EVENING, "America/New_York", "time"), "de", "13:00"),
        (Moment(EVENING, "Europe/Berlin", "date"), "de_AT", "So., 29. Nov."),
        (ClockTime(time(21, 0)), "en", "21:00"),
        (ClockTime(time(21, 0)), "en-US", "9:00\u202fPM"),
        (Day(date(2026, 11, 27)), "en", "Fri 27 Nov"),
        (Day(date(2026, 11, 27)), "de", "Fr., 27. Nov."),
        (Weekday(6), "en", "Sunday"),
        (Weekday(6), "de", "Sonntag"),
    ],
)
def test_dates_times_and_weekdays_follow_the_readers_locale(
    value: Moment | ClockTime | Day | Weekday, language: str, shown: str
) -> None:
    assert format_value(value, language) == shown


@pytest.mark.parametrize(
    ("minutes", "language", "shown"),
    [
        (20, "en", "20 minutes"),
        (45, "en", "45 minutes"),
        (60, "en", "an hour"),
        (120, "en", "two hours"),
        (90, "en", "an hour and 30 minutes"),
        (150, "en", "two hours and 30 minutes"),
        (1440, "en", "24 hours"),
        (45, "de", "45 Minuten"),
        (60, "de", "eine Stunde"),
        (120, "de", "zwei Stunden"),
        (90, "de", "eine Stunde und 30 Minuten"),
        (1, "de", "eine Minute"),
    ],
)
def test_lengths_are_said_in_words(minutes: int, language: str, shown: str) -> None:
    assert format_value(Length(minutes), language) == shown


@pytest.mark.parametrize(
    ("weeks", "language", "starts"),
    [
        (1, "en", "Streak: 1 week done."),
        (3, "en", "Streak: 3 weeks done."),
        (1, "de", "Serie: 1 Woche geschafft."),
        (3, "de", "Serie: 3 Wochen geschafft."),
    ],
)
def test_plural_forms_are_chosen_by_the_languages_rules(
    weeks: int, language: str, starts: str
) -> None:
    assert render(Text("checkin.streak", {"count": weeks}), language).startswith(starts)


def test_a_plural_text_without_a_count_is_a_bug_not_a_guess() -> None:
    with pytest.raises(KeyError):
        render(Text("checkin.streak", {"weeks": 3}), "en")


def test_a_key_missing_in_german_is_logged_and_shown_in_english(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    german = dict(texts.catalogue("de"))
    del german["pause.ready_notice"]
    real = texts.catalogue
    monkeypatch.setattr(texts, "catalogue", lambda name: german if name == "de" else real(name))
    with caplog.at_level(logging.WARNING, logger="bot.texts"):
        assert render(Text("pause.ready_notice"), "de") == "Thank you."
    assert "pause.ready_notice" in caplog.text


def test_an_unknown_key_is_an_error() -> None:
    with pytest.raises(KeyError):
        render(Text("pause.no_such_text"), "de")


def test_menus_are_worded_per_language() -> None:
    english = dict(texts.menu("group", "en"))
    german = dict(texts.menu("group", "de"))
    assert english.keys() == german.keys() and "language" in german
    assert german["pause"].startswith("Eine Pause")
