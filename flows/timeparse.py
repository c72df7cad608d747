"""Reading times out of what people type: promises, the check-in day, pause lengths.

Pure: no database, no clock. The words come from the catalogue (`[parse]` in
`bot/locales/<language>.toml`) of the person's language, and English is always accepted
too, so "täglich" and "daily" both work for a German speaker.

One rule for a bare hour, everywhere: "at 7" (an hour from 1 to 7, without minutes or
am/pm) is the evening, 19:00. Mend's times are evening times (a check-in, a nudge, the
"kept?" question), and nobody sets a ritual for 7 in the morning by typing "7": who means
the morning writes "7am" or "07:00".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time, timedelta
from functools import cache

from bot.texts import words

ONCE, DAILY, WEEKDAYS, WEEKLY = "once", "daily", "weekdays", "weekly"

# A time as typed: "7", "7:30", "19.30", "7pm", "7 p.m.".
TIME = r"(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?"
EVENING_HOURS = range(1, 8)

# The times of day a named part of the day stands for; a check-in set to "sunday evening"
# offers these as buttons.
PARTS_OF_DAY = {
    "morning": (time(8, 0), time(9, 0), time(10, 0)),
    "afternoon": (time(14, 0), time(15, 0), time(16, 0)),
    "evening": (time(18, 0), time(19, 0), time(20, 0)),
}
# A promise "in the morning" / "in the evening": when its nudge comes.
PROMISE_MORNING = time(8, 30)
PROMISE_EVENING = time(18, 0)
PROMISE_NOON = time(12, 0)

MAX_LENGTH_TEXT = 40


@dataclass(frozen=True)
class When:
    """A promise's schedule as typed, before it meets a calendar."""

    repeat: str
    weekday: int | None = None  # weekly: which day; once: "by Friday"
    in_days: int | None = None  # once: days from today
    after_today: bool = False  # once "next Friday": not today even if today is Friday
    evening: bool = False  # "tonight": the nudge comes in the evening


@dataclass(frozen=True)
class Promised:
    """A promise split into its words, its when and its time of day."""

    what: str
    when: When | None
    at: time | None


@dataclass(frozen=True)
class WeeklyTime:
    """A weekly day and time ("Sun 19:00"), or a day and a part of it ("sunday evening")."""

    weekday: int
    at: time | None = None
    choices: tuple[time, ...] = ()


# ---- the words of a language -----------------------------------------------------------


def clock_time(hours: str, minutes: str | None, half: str | None) -> time | None:
    """The one rule for a typed time; None when it is not a time of day."""
    hour, minute = int(hours), int(minutes or 0)
    if minute > 59:
        return None
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half.lower().startswith("p") else 0)
    elif minutes is None and hour in EVENING_HOURS:
        hour += 12
    if hour > 23:
        return None
    return time(hour, minute)


def _indexed(key: str, language: str | None) -> dict[str, int]:
    """Words listed by number (weekdays from Monday, numbers from zero), the person's
    language first, then English."""
    found: dict[str, int] = {}
    for catalogue_name in (language, "en"):
        for index, line in enumerate(words(key, catalogue_name, english=False)):
            for name in line.lower().split():
                found.setdefault(name, index)
    return found


@cache
def _days(language: str | None) -> dict[str, int]:
    """Every name of every weekday, singular and plural ("sun", "sundays"), Monday 0."""
    return {**_indexed("parse.days_plural", language), **_indexed("parse.days", language)}


@cache
def _plural_days(language: str | None) -> dict[str, int]:
    return _indexed("parse.days_plural", language)


def _day_of(word: str, language: str | None) -> int | None:
    return _days(language).get(word.lower().rstrip("."))


@cache
def _numbers(language: str | None) -> dict[str, int]:
    return _indexed("parse.numbers", language)


def _count(raw: str, language: str | None) -> int:
    return int(raw) if raw.isdigit() else _numbers(language)[raw.lower()]


def _alternatives(names: list[str]) -> str:
    return "(" + "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True)) + ")"


@cache
def _slots(language: str | None) -> dict[str, str]:
    days = _days(language)
    plural = _plural_days(language)
    return {
        "{day}": _alternatives([name for name in days if name not in plural]),
        # Alone (without "by", "on"...) only a full name counts: "a walk in the sun" is
        # no Sunday.
        "{fullday}": _alternatives([name for name in days if len(name) > 5 and name not in plural]),
        "{days}": _alternatives(list(plural)),
        "{count}": r"(\d{1,2}|" + _alternatives(list(_numbers(language)))[1:],
        "{time}": TIME,
    }


def _phrase(phrase: str, slots: dict[str, str]) -> str:
    """A catalogue phrase ("in {count} days") as a pattern: words match whole, spaces
    match any spacing, a dash any dash."""
    parts: list[str] = []
    for token in phrase.lower().split():
        pattern = ""
        for piece in re.split(r"(\{[a-z]+\})", token):
            if piece in slots:
                pattern += slots[piece]
            elif piece:
                pattern += r"\s*[-–]\s*".join(re.escape(bit) for bit in piece.split("-"))
        parts.append(pattern)
    return r"\s+".join(parts)


@cache
def pattern(key: str, language: str | None) -> str:
    """All phrases of `parse.<key>` (the person's language and English) as one pattern."""
    slots = _slots(language)
    phrases = sorted(words(f"parse.{key}", language), key=len, reverse=True)
    return "|".join(f"(?:{_phrase(phrase, slots)})" for phrase in phrases) or r"(?!)"


def is_word(said: str, key: str, language: str | None) -> bool:
    """Whether `said` is one of the words of `parse.<key>` ("now", "jetzt")."""
    cleaned = " ".join(said.lower().split())
    return cleaned in {word.lower() for word in words(f"parse.{key}", language)}


# ---- promises ----------------------------------------------------------------------------


def _first_group(match: re.Match[str]) -> str:
    return next(group for group in match.groups() if group)


def _when_patterns(language: str | None) -> list[tuple[str, Callable[[re.Match[str]], When]]]:
    def day(match: re.Match[str]) -> int:
        return _days(language)[_first_group(match).lower()]

    def count(match: re.Match[str]) -> int:
        return _count(_first_group(match), language)

    return [
        (pattern("weekdays", language), lambda m: When(WEEKDAYS)),
        (pattern("daily", language), lambda m: When(DAILY)),
        (pattern("weekly", language), lambda m: When(WEEKLY)),
        (pattern("weekly_on", language), lambda m: When(WEEKLY, weekday=day(m))),
        (pattern("tomorrow_evening", language), lambda m: When(ONCE, in_days=1, evening=True)),
        (pattern("tomorrow", language), lambda m: When(ONCE, in_days=1)),
        (pattern("tonight", language), lambda m: When(ONCE, in_days=0, evening=True)),
        (pattern("in_days", language), lambda m: When(ONCE, in_days=count(m))),
        (pattern("in_weeks", language), lambda m: When(ONCE, in_days=7 * count(m))),
        (pattern("next_week", language), lambda m: When(ONCE, in_days=7)),
        (pattern("weekend", language), lambda m: When(ONCE, weekday=5)),
        (pattern("end_of_week", language), lambda m: When(ONCE, weekday=6)),
        (pattern("next_day", language), lambda m: When(ONCE, weekday=day(m), after_today=True)),
        (pattern("by_day", language), lambda m: When(ONCE, weekday=day(m))),
        (_slots(language)["{fullday}"], lambda m: When(ONCE, weekday=day(m))),
    ]


def _time_patterns(
    language: str | None,
) -> list[tuple[str, Callable[[re.Match[str]], time | None]]]:
    def typed(match: re.Match[str]) -> time | None:
        groups = [group for group in match.groups()]
        for start in range(0, len(groups), 3):
            if groups[start]:
                return clock_time(groups[start], groups[start + 1], groups[start + 2])
        return None

    return [
        (pattern("at_time", language), typed),
        (r"(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)", typed),
        (pattern("noon", language), lambda m: PROMISE_NOON),
        (pattern("mornings", language), lambda m: PROMISE_MORNING),
        (pattern("evenings", language), lambda m: PROMISE_EVENING),
    ]


def _strip_end(raw: str, wanted: str) -> tuple[str, re.Match[str]] | None:
    """`raw` without `wanted` at its end, and what matched; None if it does not end so."""
    match = re.search(rf"(?:^|[\s,;(]+)(?:{wanted})[\s.!)]*$", raw, flags=re.IGNORECASE)
    if match is None:
        return None
    inner = re.fullmatch(rf"[\s,;(]*({wanted})[\s.!)]*", match.group(0), flags=re.IGNORECASE)
    if inner is None:
        return None
    found = re.fullmatch(wanted, inner.group(1), flags=re.IGNORECASE)
    return (raw[: match.start()], found) if found else None


def parse_promise(raw: str, language: str | None = "en") -> Promised:
    """Split "call your mum by Friday at 6pm" (or "Mama anrufen bis Freitag um 18 Uhr")
    into what, when and the time of day.

    Phrases are read from the end of the text, where people put them; each of when and
    time of day is taken once, in either order.
    """
    rest = " ".join(raw.split())
    when: When | None = None
    at: time | None = None
    for _ in range(2):
        if at is None:
            for wanted, make_time in _time_patterns(language):
                cut = _strip_end(rest, wanted)
                if cut is not None and (found_at := make_time(cut[1])) is not None:
                    rest, at = cut[0], found_at
                    break
        if when is None:
            for wanted, make_when in _when_patterns(language):
                cut = _strip_end(rest, wanted)
                if cut is not None:
                    rest, when = cut[0], make_when(cut[1])
                    break
    if when is None:
        # German puts the when first ("morgen Mama anrufen"), and so do some people in
        # English ("tomorrow: call mum"): taken from the start when nothing was at the end.
        # A bare day name is not: "Sunday roast for everyone" is about food.
        for wanted, make_when in _when_patterns(language)[:-1]:
            found = re.match(rf"\s*({wanted})(?=[\s,;:]|$)[\s,;:]*", rest, flags=re.IGNORECASE)
            inner = re.fullmatch(wanted, found.group(1), flags=re.IGNORECASE) if found else None
            if found is not None and inner is not None and found.end() < len(rest):
                rest, when = rest[found.end() :], make_when(inner)
                break
    if when is None:
        # A vague time is no time: it is left out of the words and the bot asks instead.
        cut = _strip_end(rest, pattern("vague", language))
        if cut is not None:
            rest = cut[0]
    return Promised(what=rest.strip(" \t,;:-–—."), when=when, at=at)


# ---- the check-in's weekly day and time ------------------------------------------------


def _part_of_day(word: str, language: str | None) -> tuple[time, ...] | None:
    for part, choices in PARTS_OF_DAY.items():
        if is_word(word, part, language):
            return choices
    return None


def _split_compound(word: str, language: str | None) -> list[str]:
    """ "sonntagabend" -> "sonntag", "abend": German writes a day and its part as one."""
    for part in PARTS_OF_DAY:
        for name in words(f"parse.{part}", language):
            name = name.lower()
            if " " not in name and word.endswith(name) and _day_of(word[: -len(name)], language):
                return [word[: -len(name)], name]
    return [word]


def parse_weekly(raw: str, language: str | None = "en") -> WeeklyTime | None:
    """ "Sun 19:00", "sunday 7pm", "So 19 Uhr", "7.30pm on Fridays" -> a day and a time;
    "sunday evening", "Sonntagabend" -> a day and the times to choose from."""
    cleaned = re.sub(
        r"\s+(am|pm|a\.m\.|p\.m\.)(?=\s|$)", r"\1", raw.strip().lower().replace(",", " ")
    )
    fillers = {word.lower() for word in words("parse.fillers", language)}
    said = [
        piece
        for word in cleaned.split()
        for piece in _split_compound(word, language)
        if piece not in fillers
    ]
    if len(said) != 2:
        return None
    for day_word, time_word in (said, said[::-1]):
        day = _day_of(day_word, language)
        if day is None:
            continue
        found = re.fullmatch(TIME, time_word) or re.fullmatch(r"(\d{1,2})h(\d{2})()", time_word)
        if found is not None:
            at = clock_time(found.group(1), found.group(2), found.group(3) or None)
            if at is not None:
                return WeeklyTime(day, at)
        choices = _part_of_day(time_word, language)
        if choices is not None:
            return WeeklyTime(day, choices=choices)
    return None


# ---- pause lengths -------------------------------------------------------------------------


def parse_length(raw: str, language: str | None = "en") -> timedelta | None:
    """ "60", "90m", "1h30", "1:30", "2 hours", "two hours", "45 Minuten", "zwei Stunden",
    "1 Stunde und 30 Minuten" -> a length; None if not one."""
    cleaned = " ".join(raw.strip().lower().split())
    if not cleaned or len(cleaned) > MAX_LENGTH_TEXT:
        return None
    if re.fullmatch(r"\d{1,6}", cleaned):
        return timedelta(minutes=int(cleaned))
    clock = re.fullmatch(r"(\d{1,3}):(\d{2})", cleaned)
    if clock:
        return _hours_minutes(int(clock[1]), int(clock[2]))
    count = r"(\d{1,3}|" + _alternatives(list(_numbers(language)))[1:]
    minutes = "(?:" + pattern("minutes", language) + ")"
    hours = "(?:" + pattern("hours", language) + ")"
    joiner = "(?:" + pattern("and", language) + r"|,)?\s*"
    only_minutes = re.fullmatch(rf"{count}\s*{minutes}", cleaned)
    if only_minutes:
        return timedelta(minutes=_count(only_minutes[1], language))
    with_hours = re.fullmatch(
        rf"{count}\s*{hours}(?:\s*{joiner}(\d{{1,2}})\s*{minutes}?)?", cleaned
    )
    if with_hours:
        return _hours_minutes(_count(with_hours[1], language), int(with_hours[2] or 0))
    return None


def _hours_minutes(hours: int, minutes: int) -> timedelta | None:
    return None if minutes >= 60 else timedelta(hours=hours, minutes=minutes)
