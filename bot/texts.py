"""The catalogue: every sentence a partner reads, one TOML file per language.

Keys are dotted (`pause.asked`); values are `str.format` templates. A translation is a
new file in `bot/locales/`, not a code change. Missing keys in a translation fall
back to English.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from flows.outcome import Button, Keyboard, Text

LOCALES = Path(__file__).parent / "locales"
FALLBACK = "en"
# A "/word" at the start of a word becomes a tappable command in Telegram. Values a person
# wrote (a promise, an answer, a name) are repeated with a word joiner (U+2060, invisible)
# after the slash, so a "/pause" inside a posted repair is text, not a button that acts.
_COMMAND_START = re.compile(r"(?<![^\s(\[\"'“‘«])/(?=[A-Za-z0-9_])")
WORD_JOINER = "\u2060"


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, key + "."))
        else:
            flat[key] = str(value)
    return flat


@cache
def catalogue(language: str) -> dict[str, str]:
    path = LOCALES / f"{language}.toml"
    if not path.exists():
        return catalogue(FALLBACK) if language != FALLBACK else {}
    with path.open("rb") as handle:
        return _flatten(tomllib.load(handle))


def languages() -> list[str]:
    return sorted(path.stem for path in LOCALES.glob("*.toml"))


def menu(scope: str, language: str = FALLBACK) -> list[tuple[str, str]]:
    """The command menu for "group" or "private" chats: (command, description), in the
    catalogue's order (its `[menu_group]` / `[menu_private]` tables)."""
    prefix = f"menu_{scope}."
    return [(key.removeprefix(prefix), render(Text(key), language))
            for key in catalogue(FALLBACK) if key.startswith(prefix)]


def render(body: Text, language: str = FALLBACK) -> str:
    """The sentence for `body` in `language`; nested `Text` values are rendered first."""
    template = catalogue(language).get(body.key) or catalogue(FALLBACK).get(body.key)
    if template is None:
        raise KeyError(f"no text for key {body.key!r}")
    values = {name: _value(value, language) for name, value in body.values.items()}
    return template.format_map(values).strip()


def _value(value: Any, language: str) -> Any:
    """Nested texts render in the same language; a tuple of texts becomes lines."""
    if isinstance(value, Text):
        return render(value, language)
    if isinstance(value, tuple):
        return "\n".join(str(_value(item, language)) for item in value)
    if isinstance(value, str):
        return inert(value)
    return value


def inert(value: str) -> str:
    """`value` with no "/command" Telegram would make tappable (templates keep theirs)."""
    return _COMMAND_START.sub("/" + WORD_JOINER, value)


def render_keyboard(buttons: Keyboard, language: str = FALLBACK) -> list[list[dict[str, str]]]:
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


def _button(button: Button, language: str) -> dict[str, str]:
    label = render(button.label, language)
    if button.url and button.url.startswith("start:"):
        return {"text": label, "url": f"https://t.me/{BOT.username}?start={button.url[6:]}"}
    if button.url and button.url.startswith("startgroup:"):
        payload = button.url.removeprefix("startgroup:")
        return {"text": label, "url": f"https://t.me/{BOT.username}?startgroup={payload}"}
    if button.url:
        return {"text": label, "url": button.url}
    return {"text": label, "callback_data": button.data or ""}
