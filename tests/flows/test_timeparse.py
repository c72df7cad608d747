"""Reading times out of what people type, in English and German, without a database."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from flows.timeparse import (
    DAILY,
    ONCE,
    WEEKDAYS,
    WEEKLY,
    clock_time,
    is_word,
    parse_length,
    parse_promise,
    parse_weekly,
)

EVENING = (time(18, 0), time(19, 0), time(20, 0))

# ---- promises ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "language", "what", "repeat", "weekday", "in_days"),
    [
        (
            "put my phone away at dinner daily",
            "en",
            "put my phone away at dinner",
            DAILY,
            None,
            None,
        ),
        ("ask about your day every day", "en", "ask about your day", DAILY, None, None),
        ("call your mum by Friday", "en", "call your mum", ONCE, 4, None),
        ("book the table on fri", "en", "book the table", ONCE, 4, None),
        ("plan a walk tomorrow", "en", "plan a walk", ONCE, None, 1),
        ("make coffee every weekday", "en", "make coffee", WEEKDAYS, None, None),
        ("make coffee on weekdays", "en", "make coffee", WEEKDAYS, None, None),
        ("water the plants weekly", "en", "water the plants", WEEKLY, None, None),
        ("cook for us tonight", "en", "cook for us", ONCE, None, 0),
        ("tidy the desk in 3 days", "en", "tidy the desk", ONCE, None, 3),
        ("tidy the desk in three days", "en", "tidy the desk", ONCE, None, 3),
        ("plan date night next week", "en", "plan date night", ONCE, None, 7),
        ("go to the gym every Monday", "en", "go to the gym", WEEKLY, 0, None),
        ("read together on sundays", "en", "read together", WEEKLY, 6, None),
        ("fix the shelf by the weekend", "en", "fix the shelf", ONCE, 5, None),
        ("walk after dinner, every weekday.", "en", "walk after dinner", WEEKDAYS, None, None),
        ("sort the photos this week", "en", "sort the photos", ONCE, 6, None),
        (
            "beim Essen das Handy weglegen täglich",
            "de",
            "beim Essen das Handy weglegen",
            DAILY,
            None,
            None,
        ),
        ("Handy weg beim Essen, jeden Tag", "de", "Handy weg beim Essen", DAILY, None, None),
        ("Mama anrufen bis Freitag", "de", "Mama anrufen", ONCE, 4, None),
        ("einen Spaziergang planen morgen", "de", "einen Spaziergang planen", ONCE, None, 1),
        ("Kaffee machen werktags", "de", "Kaffee machen", WEEKDAYS, None, None),
        ("die Pflanzen gießen wöchentlich", "de", "die Pflanzen gießen", WEEKLY, None, None),
        ("für uns kochen heute Abend", "de", "für uns kochen", ONCE, None, 0),
        (
            "den Schreibtisch aufräumen in 3 Tagen",
            "de",
            "den Schreibtisch aufräumen",
            ONCE,
            None,
            3,
        ),
        ("ins Kino gehen nächste Woche", "de", "ins Kino gehen", ONCE, None, 7),
        ("zusammen lesen sonntags", "de", "zusammen lesen", WEEKLY, 6, None),
        ("zum Sport jeden Montag", "de", "zum Sport", WEEKLY, 0, None),
        ("morgen einen Spaziergang planen", "de", "einen Spaziergang planen", ONCE, None, 1),
        (
            "täglich beim Essen das Handy weglegen",
            "de",
            "beim Essen das Handy weglegen",
            DAILY,
            None,
            None,
        ),
        ("tomorrow: call mum", "en", "call mum", ONCE, None, 1),
        # English is always understood too.
        ("Blumen kaufen daily", "de", "Blumen kaufen", DAILY, None, None),
    ],
)
def test_when_is_read_from_every_form(
    typed: str, language: str, what: str, repeat: str, weekday: int | None, in_days: int | None
) -> None:
    parsed = parse_promise(typed, language)
    assert parsed.what == what
    assert parsed.when is not None
    assert (parsed.when.repeat, parsed.when.weekday, parsed.when.in_days) == (
        repeat,
        weekday,
        in_days,
    )


def test_german_words_are_not_understood_for_an_english_speaker() -> None:
    parsed = parse_promise("Blumen kaufen täglich", "en")
    assert parsed.when is None and parsed.what == "Blumen kaufen täglich"


@pytest.mark.parametrize(
    ("typed", "language", "at"),
    [
        ("call mum by Friday at 6pm", "en", time(18, 0)),
        ("breakfast for two on weekdays at 7:30am", "en", time(7, 30)),
        ("put the phone away daily at 19:00", "en", time(19, 0)),
        ("ask about her day every evening at 7", "en", time(19, 0)),
        ("Mama anrufen bis Freitag um 18 Uhr", "de", time(18, 0)),
        ("Frühstück machen werktags um 7:30", "de", time(7, 30)),
        ("nach ihrem Tag fragen täglich um 7", "de", time(19, 0)),
    ],
)
def test_a_time_of_day_is_read_too(typed: str, language: str, at: time) -> None:
    parsed = parse_promise(typed, language)
    assert parsed.at == at and parsed.when is not None


@pytest.mark.parametrize(
    ("typed", "language", "what"),
    [
        ("call mum soon", "en", "call mum"),
        ("fix the bike at some point", "en", "fix the bike"),
        ("walk in the sun", "en", "walk in the sun"),
        ("say thank you more", "en", "say thank you more"),
        ("das Rad reparieren irgendwann", "de", "das Rad reparieren"),
        ("so oft wie möglich danke sagen", "de", "so oft wie möglich danke sagen"),
        ("sunday roast for everyone", "en", "sunday roast for everyone"),
    ],
)
def test_text_without_a_clear_when_has_none(typed: str, language: str, what: str) -> None:
    parsed = parse_promise(typed, language)
    assert parsed.when is None and parsed.what == what


# ---- one rule for a bare hour ----------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "minutes", "half", "at"),
    [
        ("7", None, None, time(19, 0)),  # a bare 1..7 is the evening
        ("1", None, None, time(13, 0)),
        ("8", None, None, time(8, 0)),  # 8 and later are taken as typed
        ("7", "00", None, time(7, 0)),  # minutes written: as typed
        ("7", None, "am", time(7, 0)),
        ("12", None, "am", time(0, 0)),
        ("12", None, "pm", time(12, 0)),
    ],
)
def test_a_bare_hour_from_1_to_7_means_the_evening_everywhere(
    hours: str, minutes: str | None, half: str | None, at: time
) -> None:
    assert clock_time(hours, minutes, half) == at


def test_at_7_is_the_same_hour_for_a_promise_and_for_the_checkin() -> None:
    promised = parse_promise("call mum daily at 7", "en").at
    weekly = parse_weekly("sun 7", "en")
    assert weekly is not None and promised == weekly.at == time(19, 0)
    german = parse_weekly("So 7", "de")
    assert german is not None and german.at == time(19, 0)


# ---- the check-in's day and time -----------------------------------------------------


@pytest.mark.parametrize(
    ("said", "language", "weekday", "at"),
    [
        ("Sun 19:00", "en", 6, time(19, 0)),
        ("sunday 7pm", "en", 6, time(19, 0)),
        ("wed 20:30", "en", 2, time(20, 30)),
        ("Wednesday at 8:30 pm", "en", 2, time(20, 30)),
        ("7.30pm on Fridays", "en", 4, time(19, 30)),
        ("tues 12am", "en", 1, time(0, 0)),
        ("sat 12pm", "en", 5, time(12, 0)),
        ("So 19:00", "de", 6, time(19, 0)),
        ("So. 19:00", "de", 6, time(19, 0)),
        ("sonntags um 19 Uhr", "de", 6, time(19, 0)),
        ("Mittwoch 20:30", "de", 2, time(20, 30)),
        ("Sun 19:00", "de", 6, time(19, 0)),
    ],
)
def test_days_and_times_are_understood_in_the_ways_people_write_them(
    said: str, language: str, weekday: int, at: time
) -> None:
    parsed = parse_weekly(said, language)
    assert parsed is not None and (parsed.weekday, parsed.at) == (weekday, at)


@pytest.mark.parametrize(
    ("said", "language", "weekday"),
    [
        ("sunday evening", "en", 6),
        ("Sun evening", "en", 6),
        ("Sonntagabend", "de", 6),
        ("Sonntag Abend", "de", 6),
        ("Freitag abends", "de", 4),
    ],
)
def test_a_day_and_its_evening_offers_three_evening_times(
    said: str, language: str, weekday: int
) -> None:
    parsed = parse_weekly(said, language)
    assert parsed is not None
    assert (parsed.weekday, parsed.at, parsed.choices) == (weekday, None, EVENING)


@pytest.mark.parametrize(
    "said",
    [
        "banana",
        "sun 25:00",
        "13pm mon",
        "someday soon",
        "sun",
        "So",
        "Sonntag Sonntag",
        "evening 19:00",
    ],
)
def test_what_is_not_a_day_and_time_is_none(said: str) -> None:
    assert parse_weekly(said, "de") is None


@pytest.mark.parametrize(
    ("said", "key", "language", "expected"),
    [
        ("now", "now", "de", True),
        ("jetzt", "now", "de", True),
        ("jetzt", "now", "en", False),
        ("aus", "off", "de", True),
        ("off", "off", "de", True),
        ("an", "on", "de", True),
        ("Stopp", "stop", "de", True),
        ("cancel", "stop", "de", True),
        ("stopp", "stop", "en", False),
        ("überspringen", "skip", "de", True),
        ("skip", "skip", "de", True),
        ("ja", "plain_need", "de", True),
        ("ok", "plain_need", "en", True),
        ("ja, gern", "plain_need", "de", False),
    ],
)
def test_command_and_answer_words_come_from_the_catalogue_and_english(
    said: str, key: str, language: str, expected: bool
) -> None:
    assert is_word(said, key, language) is expected


# ---- pause lengths ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "language", "minutes"),
    [
        ("60", "en", 60),
        ("90m", "en", 90),
        ("90 min", "en", 90),
        ("1h30", "en", 90),
        ("1h 30m", "en", 90),
        ("1h", "en", 60),
        ("2 hours", "en", 120),
        ("1:30", "en", 90),
        ("two hours", "en", 120),
        ("an hour", "en", 60),
        ("45 minutes", "en", 45),
        ("1 hour and 30 minutes", "en", 90),
        ("zwei Stunden", "de", 120),
        ("45 Minuten", "de", 45),
        ("eine Stunde", "de", 60),
        ("1 Stunde und 30 Minuten", "de", 90),
        ("2 Std", "de", 120),
        ("two hours", "de", 120),
    ],
)
def test_pause_lengths_are_read_in_words_and_digits(
    given: str, language: str, minutes: int
) -> None:
    assert parse_length(given, language) == timedelta(minutes=minutes)


@pytest.mark.parametrize("given", ["soon", "1h75", "zwei", "Stunden", "x" * 50, ""])
def test_what_is_not_a_length_is_none(given: str) -> None:
    assert parse_length(given, "de") is None
