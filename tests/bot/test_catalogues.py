"""Every shipped language says everything English says, with the same placeholders.

When this fails after new English keys landed, the message lists exactly what to
translate: add each key to the language's file, in the same table and order as en.toml.
"""

from __future__ import annotations

from string import Formatter

import pytest

from bot.texts import FALLBACK, Entry, catalogue, languages, locale_of, menu, render
from flows.outcome import Text
from flows.timeparse import parse_weekly

TRANSLATIONS = [language for language in languages() if language != FALLBACK]


def placeholders(entry: Entry) -> set[str]:
    if isinstance(entry, tuple):
        return set()
    templates = [entry] if isinstance(entry, str) else list(entry.values())
    return {
        name
        for template in templates
        for _text, name, _spec, _conversion in Formatter().parse(template)
        if name
    }


def kind(entry: Entry) -> str:
    return "list" if isinstance(entry, tuple) else "text"


def test_german_ships() -> None:
    assert "de" in TRANSLATIONS


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_every_english_key_is_translated(language: str) -> None:
    missing = [key for key in catalogue(FALLBACK) if key not in catalogue(language)]
    assert not missing, (
        f"{language}.toml lacks {len(missing)} key(s); translate them:\n" + "\n".join(missing)
    )


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_no_translation_has_keys_english_lacks(language: str) -> None:
    stray = [key for key in catalogue(language) if key not in catalogue(FALLBACK)]
    assert not stray, f"{language}.toml has keys en.toml does not:\n" + "\n".join(stray)


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_placeholders_match_english(language: str) -> None:
    english, translated = catalogue(FALLBACK), catalogue(language)
    wrong = [
        f"{key}: English {sorted(placeholders(english[key]))}, "
        f"{language} {sorted(placeholders(entry))}"
        for key, entry in translated.items()
        if key in english
        and key != "meta.locale"
        and (placeholders(entry) != placeholders(english[key]) or kind(entry) != kind(english[key]))
    ]
    assert not wrong, "placeholders differ:\n" + "\n".join(wrong)


@pytest.mark.parametrize("language", languages())
def test_plural_tables_have_every_form_the_language_needs(language: str) -> None:
    needed = set(locale_of(language).plural_form.tags) | {"other"}
    for key, entry in catalogue(language).items():
        if isinstance(entry, dict):
            assert needed <= set(entry), f"{language} {key} needs forms {sorted(needed)}"


@pytest.mark.parametrize("language", languages())
def test_every_text_renders(language: str) -> None:
    for key, entry in catalogue(language).items():
        if isinstance(entry, tuple) or key.startswith("meta."):
            continue
        values = {name: "x" for name in placeholders(entry)} | {"count": 2}
        assert isinstance(render(Text(key, values), language), str)


@pytest.mark.parametrize("language", languages())
def test_weekday_word_lists_name_seven_days(language: str) -> None:
    for key in ("parse.days", "parse.days_plural"):
        entry = catalogue(language)[key]
        assert isinstance(entry, tuple) and len(entry) == 7, f"{language} {key}"


@pytest.mark.parametrize("language", languages())
def test_command_menus_fit_telegram(language: str) -> None:
    for scope in ("group", "private"):
        for command, about in menu(scope, language):
            assert command.islower() and 3 <= len(about) <= 256, (language, command)


@pytest.mark.parametrize("language", languages())
def test_the_checkin_examples_a_language_gives_are_understood(language: str) -> None:
    examples = [
        line.removeprefix("/checkin ")
        for line in render(Text("checkin.not_understood"), language).splitlines()
        if line.startswith("/checkin ") and "," not in line
    ]
    assert len(examples) == 3
    for example in examples:
        assert parse_weekly(example, language) is not None, (language, example)
