"""Message entities as the Bot API computes them: HTML parse mode, commands and mentions.

Offsets and lengths are in UTF-16 code units, like Telegram's.
"""

from __future__ import annotations

import re
from typing import Any

Entity = dict[str, Any]


class EntityParseError(ValueError):
    """The text could not be parsed in the given parse mode (Telegram answers 400)."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
_SUPPORTED_TAGS = {*_SIMPLE_TAGS, "a", "span", "tg-emoji"}
_TAG_NAME_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
_ATTR_RE = re.compile(r"""([a-zA-Z_][a-zA-Z0-9_-]*)\s*(?:=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?""")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_CHAR_REF_RE = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]+));")


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _parse_attrs(raw: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for match in _ATTR_RE.finditer(raw):
        value = match.group(2) or ""
        if value[:1] in {'"', "'"}:
            value = value[1:-1]
        attrs[match.group(1).lower()] = _unescape(value)
    return attrs


def _unescape(text: str) -> str:
    def repl(match: re.Match[str]) -> str:
        dec, hexa, name = match.groups()
        if dec is not None:
            return chr(int(dec)) if int(dec) < 0x110000 else match.group(0)
        if hexa is not None:
            return chr(int(hexa, 16)) if int(hexa, 16) < 0x110000 else match.group(0)
        return _NAMED_ENTITIES.get(name, match.group(0))

    return _CHAR_REF_RE.sub(repl, text)


def parse_html(source: str) -> tuple[str, list[Entity]]:
    """Strip Telegram-HTML tags from ``source``; return the plain text and its entities.

    Raises :class:`EntityParseError` for what Telegram refuses: unsupported or unclosed tags,
    mismatched end tags, a bare ``<``.
    """
    out: list[str] = []
    out_len = 0  # utf-16 length of "".join(out)
    stack: list[tuple[str, int, dict[str, str]]] = []
    entities: list[Entity] = []
    i = 0
    n = len(source)
    while i < n:
        ch = source[i]
        if ch == "<":
            nxt = source[i + 1 : i + 2]
            if not (nxt == "/" or (nxt.isascii() and nxt.isalpha())):
                raise EntityParseError(
                    f'Unsupported start tag "{nxt.strip()}" at byte offset '
                    f"{_byte_offset(source, i)}"
                )
            end = source.find(">", i + 1)
            if end == -1:
                raise EntityParseError(
                    f"Can't find end of the tag at byte offset {_byte_offset(source, i)}"
                )
            content = source[i + 1 : end]
            if content.startswith("/"):
                name = content[1:].strip().lower()
                if not stack:
                    raise EntityParseError(
                        f'Unexpected end tag "{name}" at byte offset {_byte_offset(source, i)}'
                    )
                open_name, start, attrs = stack.pop()
                if open_name != name:
                    raise EntityParseError(
                        f"Unmatched end tag at byte offset {_byte_offset(source, i)}, "
                        f'expected "</{open_name}>", found "</{name}>"'
                    )
                entity = _make_entity(open_name, start, out_len - start, attrs, stack)
                if entity is not None and entity["length"] > 0:
                    entities.append(entity)
            else:
                match = _TAG_NAME_RE.match(content)
                name = match.group(0).lower() if match else content
                if match is None or name not in _SUPPORTED_TAGS:
                    raise EntityParseError(
                        f'Unsupported start tag "{name}" at byte offset {_byte_offset(source, i)}'
                    )
                attrs = _parse_attrs(content[match.end() :].rstrip("/"))
                if name == "span" and attrs.get("class") != "tg-spoiler":
                    raise EntityParseError(
                        f'Tag "span" must have class "tg-spoiler" at byte offset '
                        f"{_byte_offset(source, i)}"
                    )
                stack.append((name, out_len, attrs))
            i = end + 1
            continue
        if ch == "&":
            match = _CHAR_REF_RE.match(source, i)
            if match is not None:
                decoded = _unescape(match.group(0))
                out.append(decoded)
                out_len += utf16_len(decoded)
                i = match.end()
                continue
        out.append(ch)
        out_len += utf16_len(ch)
        i += 1
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _make_entity(
    name: str,
    offset: int,
    length: int,
    attrs: dict[str, str],
    stack: list[tuple[str, int, dict[str, str]]],
) -> Entity | None:
    if name == "a":
        href = attrs.get("href")
        if not href:
            return None
        if href.startswith("tg://user?id="):
            return {
                "type": "text_mention",
                "offset": offset,
                "length": length,
                "user": {"id": int(href.split("=", 1)[1] or 0), "is_bot": False, "first_name": ""},
            }
        return {"type": "text_link", "offset": offset, "length": length, "url": href}
    if name == "span":
        return {"type": "spoiler", "offset": offset, "length": length}
    if name == "tg-emoji":
        return {
            "type": "custom_emoji",
            "offset": offset,
            "length": length,
            "custom_emoji_id": attrs.get("emoji-id", ""),
        }
    kind = _SIMPLE_TAGS[name]
    entity: Entity = {"type": kind, "offset": offset, "length": length}
    if kind == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    if kind == "code" and stack and stack[-1][0] == "pre":
        language = attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1][2]["_language"] = language[len("language-") :]
    if kind == "pre" and attrs.get("_language"):
        entity["language"] = attrs["_language"]
    return entity


_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")
_MENTION_RE = re.compile(r"(?<![A-Za-z0-9_])@[A-Za-z][A-Za-z0-9_]{3,31}(?![A-Za-z0-9_])")


def leading_command(text: str) -> tuple[str, str | None] | None:
    """``("/cmd", "botname" or None)`` when ``text`` starts with a bot command."""
    match = _COMMAND_RE.match(text)
    if match is None:
        return None
    after = text[match.end() : match.end() + 1]
    if after and not after.isspace():
        return None
    command, _, target = match.group(0).partition("@")
    return command, (target or None)


def user_entities(text: str) -> list[Entity]:
    """Entities Telegram attaches to a message a user typed: a leading command, mentions."""
    entities: list[Entity] = []
    if leading_command(text) is not None:
        match = _COMMAND_RE.match(text)
        assert match is not None
        entities.append({"type": "bot_command", "offset": 0, "length": utf16_len(match.group(0))})
    for match in _MENTION_RE.finditer(text):
        entities.append(
            {
                "type": "mention",
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group(0)),
            }
        )
    return entities


def mentions(text: str) -> list[str]:
    """Usernames (without @, lower-case) mentioned in ``text``."""
    return [m.group(0)[1:].lower() for m in _MENTION_RE.finditer(text)]
