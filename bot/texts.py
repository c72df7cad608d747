"""The catalogue: every sentence a partner reads, one TOML file per language.

Keys are dotted (`pause.asked`); values are `str.format` templates. A translation is a
new file in `bot/locales/`, not a code change (README, "Adding a language").

- A value that is a table of plural forms (`{ one = "…", other = "…" }`) is chosen by
  the value named `count`, with the language's own plural rules (Babel/CLDR).
- A value that is a list holds words a parser accepts (`[parse]`); the parsers accept
  the reader's language and English.
- Dates, times and weekday names (`Moment`, `Day`, `ClockTime`, `Weekday`, `Length`)
  are formatted here, with Babel, in the reader's locale.

A key missing in a translation falls back to English with a warning in the log;
tests/bot/test_catalogues.py fails on any such gap, so none reaches a release.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton, format_time, get_day_names
from babel.numbers import format_decimal

from flows.outcome import Button, ClockTime, Day, Keyboard, Length, Moment, Text, Weekday

log = logging.getLogger(__name__)

LOCALES = Path(__file__).parent / "locales"
FALLBACK = "en"
PLURAL_FORMS = frozenset({"zero", "one", "two", "few", "many", "other"})

Plural = Mapping[str, str]
Entry = str | Plural | tuple[str, ...]
# A "/word" at the start of a word becomes a tappable command in Telegram. Values a person
# wrote (a promise, an answer, a name) are repeated with a word joiner (U+2060, invisible)
# after the slash, so a "/pause" inside a posted repair is text, not a button that acts.
_COMMAND_START = re.compile(r"(?<![^\s(\[\"'“‘«])/(?=[A-Za-z0-9_])")
WORD_JOINER = "\u2060"


def is_plural(table: Mapping[str, Any]) -> bool:
    return "other" in table and set(table) <= PLURAL_FORMS


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Entry]:
    flat: dict[str, Entry] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping) and is_plural(value):
            flat[key] = {form: str(text) for form, text in value.items()}
        elif isinstance(value, Mapping):
            flat.update(_flatten(value, key + "."))
        elif isinstance(value, list):
            flat[key] = tuple(str(item) for item in value)
        else:
            flat[key] = str(value)
    return flat


@cache
def catalogue(language: str) -> dict[str, Entry]:
    """One shipped catalogue as it is (no English filled in); empty if not shipped."""
    path = LOCALES / f"{language}.toml"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        return _flatten(tomllib.load(handle))


@cache
def languages() -> tuple[str, ...]:
    """The shipped catalogues: English first, then the others by name."""
    names = sorted(path.stem for path in LOCALES.glob("*.toml"))
    return (FALLBACK, *(name for name in names if name != FALLBACK))


def normalize(code: str | None) -> str:
    """Telegram's `language_code` (an IETF tag, "pt-br") as a locale name ("pt_BR")."""
    parts = [part for part in re.split(r"[-_]", (code or "").strip()) if part]
    if not parts or not parts[0].isalpha() or not 2 <= len(parts[0]) <= 3:
        return FALLBACK
    language = parts[0].lower()
    region = parts[1] if len(parts) > 1 and parts[1].isalpha() and len(parts[1]) == 2 else ""
    return f"{language}_{region.upper()}" if region else language


@cache
def resolve(code: str | None) -> str:
    """The catalogue for a language: `pt-br` -> `pt_BR` -> `pt` -> English."""
    wanted = normalize(code)
    for candidate in (wanted, wanted.split("_")[0]):
        if candidate in languages():
            return candidate
    return FALLBACK


@cache
def locale_of(code: str | None) -> Locale:
    """The locale dates, times and plurals follow: the person's own region when Babel knows
    it and it belongs to the catalogue's language ("en_US" gets 12-hour times), otherwise
    the catalogue's own (`meta.locale`: English is written with 24-hour times, en_GB)."""
    language = resolve(code)
    wanted = normalize(code)
    if "_" in wanted and wanted.split("_")[0] == language.split("_")[0]:
        try:
            return Locale.parse(wanted)
        except (UnknownLocaleError, ValueError):
            pass
    own = catalogue(language).get("meta.locale")
    return Locale.parse(own if isinstance(own, str) else language)


def name_of(language: str) -> str:
    """A language named in itself, for the /language buttons: "Deutsch", "English"."""
    own = catalogue(language).get("meta.name")
    return own if isinstance(own, str) else language


def _entry(key: str, language: str) -> Entry:
    entry = catalogue(language).get(key)
    if entry is None and language != FALLBACK:
        # The catalogue test lists every such gap; in production English beats silence.
        log.warning("catalogue %s has no key %s; using English", language, key)
        entry = catalogue(FALLBACK).get(key)
    if entry is None:
        raise KeyError(f"no text for key {key!r}")
    return entry


def words(key: str, language: str | None, *, english: bool = True) -> tuple[str, ...]:
    """Words a parser accepts for `key` (`parse.daily`): the person's language and (unless
    `english` is False) English."""
    found: list[str] = []
    names = (resolve(language), FALLBACK) if english else (resolve(language),)
    for catalogue_name in dict.fromkeys(names):
        entry = catalogue(catalogue_name).get(key)
        if isinstance(entry, tuple):
            found.extend(word for word in entry if word not in found)
    return tuple(found)


def menu(scope: str, language: str = FALLBACK) -> list[tuple[str, str]]:
    """The command menu for "group" or "private" chats: (command, description), in the
    catalogue's order (its `[menu_group]` / `[menu_private]` tables)."""
    prefix = f"menu_{scope}."
    return [
        (key.removeprefix(prefix), render(Text(key), language))
        for key in catalogue(FALLBACK)
        if key.startswith(prefix)
    ]


def render(body: Text, language: str | None = FALLBACK) -> str:
    """The sentence for `body` in `language`; nested `Text` values are rendered first."""
    resolved = resolve(language)
    template = _entry(body.key, resolved)
    values = {name: _value(value, language) for name, value in body.values.items()}
    if isinstance(template, tuple):
        raise KeyError(f"{body.key!r} is a word list, not a text")
    if not isinstance(template, str):
        template = _plural(template, body, language)
    return template.format_map(values).strip()


def _plural(forms: Plural, body: Text, language: str | None) -> str:
    count = body.values.get("count")
    if not isinstance(count, int):
        raise KeyError(f"{body.key!r} has plural forms but no whole number `count`")
    form = locale_of(language).plural_form(count)
    return forms.get(form) or forms["other"]


def _value(value: Any, language: str | None) -> Any:
    """Nested texts render in the same language; a tuple of texts becomes lines."""
    if isinstance(value, Text):
        return render(value, language)
    if isinstance(value, tuple):
        return "\n".join(str(_value(item, language)) for item in value)
    if isinstance(value, Moment | ClockTime | Day | Weekday | Length):
        return format_value(value, language)
    if isinstance(value, str):
        return inert(value)
    return value


def format_value(value: Moment | ClockTime | Day | Weekday | Length, language: str | None) -> str:
    """A date, time, weekday or length, worded for the reader's locale."""
    locale = locale_of(language)
    if isinstance(value, ClockTime):
        return format_time(value.at, "short", locale=locale)
    if isinstance(value, Day):
        return format_skeleton("MMMEd", value.on, locale=locale)
    if isinstance(value, Weekday):
        return str(get_day_names("wide", locale=locale)[value.index % 7])
    if isinstance(value, Length):
        return _length(value.minutes, language)
    local = value.at.astimezone(_zone(value.zone))
    shown_time = format_time(local.timetz(), "short", locale=locale)
    if value.show == "time":
        return shown_time
    shown_date = format_skeleton("MMMEd", local.date(), locale=locale)
    if value.show == "date":
        return shown_date
    return render(Text("time.date_time", {"date": shown_date, "time": shown_time}), language)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def spelled(number: int, language: str | None) -> str:
    """Small numbers as words ("two", "zwei": the catalogue's `time.numbers`), others as
    digits in the locale's style."""
    names = _own_words("time.numbers", language)
    if 0 <= number < len(names):
        return names[number]
    return format_decimal(number, locale=locale_of(language))


def _own_words(key: str, language: str | None) -> tuple[str, ...]:
    entry = _entry(key, resolve(language))
    return entry if isinstance(entry, tuple) else ()


def _length(minutes: int, language: str | None) -> str:
    hours, rest = divmod(max(minutes, 0), 60)

    def part(key: str, count: int) -> str:
        return render(Text(key, {"count": count, "n": spelled(count, language)}), language)

    if not hours:
        return part("time.minutes", rest)
    if not rest:
        return part("time.hours", hours)
    return render(
        Text(
            "time.hours_minutes",
            {"hours": part("time.hours", hours), "minutes": part("time.minutes", rest)},
        ),
        language,
    )


def inert(value: str) -> str:
    """`value` with no "/command" Telegram would make tappable (templates keep theirs)."""
    return _COMMAND_START.sub("/" + WORD_JOINER, value)


def render_keyboard(
    buttons: Keyboard, language: str | None = FALLBACK
) -> list[list[dict[str, str]]]:
    rows: list[list[dict[str, str]]] = []
    for row in buttons:
        rendered: list[dict[str, str]] = []
        for button in row:
            rendered.append(_button(button, language))
        rows.append(rendered)
    return rows


class _BotName:
    username = "mend_bot"


BOT = _BotName()


def set_bot_username(username: str) -> None:
    """Deep links (`start:<payload>`) need the bot's @username, known once the bot starts."""
    BOT.username = username


def _button(button: Button, language: str | None) -> dict[str, str]:
    label = render(button.label, language)
    if button.url and button.url.startswith("start:"):
        return {"text": label, "url": f"https://t.me/{BOT.username}?start={button.url[6:]}"}
    if button.url and button.url.startswith("startgroup:"):
        payload = button.url.removeprefix("startgroup:")
        return {"text": label, "url": f"https://t.me/{BOT.username}?startgroup={payload}"}
    if button.url:
        return {"text": label, "url": button.url}
    return {"text": label, "callback_data": button.data or ""}
