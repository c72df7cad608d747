"""/safety: where to get help when someone is not safe, in the private chat only.

Abuse is not a communication problem (product.md, "Safety and privacy"): the bot does
not try to repair it. The resources go to the asking person's private chat and never
to the group, where the person they fear may be reading. In a group, /safety sends
them straight to the private chat when it is open and posts nothing; otherwise one
neutral line whose button opens the resources directly (`?start=safety`).

The numbers live in `safety_lines.toml`, each with the source it was checked against.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

from sqlmodel import Session

from flows.couples import Actor, couples_of_user, zone_of
from flows.feature import Feature
from flows.outcome import Button, Effects, Send, Text, ToChat, keyboard, text

# The deep-link payload of the group's button: /start with it answers with the resources.
START_PAYLOAD = "safety"
PRIVATE_LINK = f"start:{START_PAYLOAD}"
LINES_FILE = Path(__file__).with_name("safety_lines.toml")


@dataclass(frozen=True)
class HelpLine:
    region: str
    name: str
    call: str
    source: str
    text_word: str = ""
    text_to: str = ""
    zones: tuple[str, ...] = ()


@dataclass(frozen=True)
class Emergency:
    region: str
    number: str
    source: str


@dataclass(frozen=True)
class SafetyLines:
    emergency: tuple[Emergency, ...]
    lines: tuple[HelpLine, ...]
    countries: tuple[HelpLine, ...]


@cache
def safety_lines() -> SafetyLines:
    with LINES_FILE.open("rb") as handle:
        raw = tomllib.load(handle)

    def line(entry: dict[str, object]) -> HelpLine:
        zones = entry.get("zones", [])
        return HelpLine(**{**entry, "zones": tuple(zones)})  # type: ignore[arg-type]

    return SafetyLines(
        emergency=tuple(Emergency(**entry) for entry in raw.get("emergency", [])),
        lines=tuple(line(entry) for entry in raw.get("line", [])),
        countries=tuple(line(entry) for entry in raw.get("country", [])),
    )


def _line_text(line: HelpLine) -> Text:
    if line.text_word:
        return text(
            "safety.line_text",
            region=line.region,
            name=line.name,
            call=line.call,
            word=line.text_word,
            to=line.text_to,
        )
    return text("safety.line", region=line.region, name=line.name, call=line.call)


def _zones_of(session: Session, user_id: int) -> set[str]:
    return {zone_of(couple, partner).key for couple, partner in couples_of_user(session, user_id)}


def resources(session: Session, user_id: int) -> Text:
    """The resources, with a country's own line when the person's time zone points there."""
    known = safety_lines()
    zones = _zones_of(session, user_id)
    local = [line for line in known.countries if zones & set(line.zones)]
    emergency = tuple(
        text("safety.emergency_number", number=item.number, region=item.region)
        for item in known.emergency
    )
    return text(
        "safety.resources",
        emergency=emergency,
        lines=tuple(_line_text(line) for line in (*known.lines, *local)),
    )


def resources_for(session: Session, actor: Actor) -> Send:
    """The resources, addressed to the person's own private chat (their user id).

    Built from the user id, never from the chat the command came from, so even a
    mistaken call for a group update cannot put them in a group.
    """
    return Send(ToChat(actor.user_id), resources(session, actor.user_id))


def _private_open(session: Session, user_id: int) -> bool:
    return any(
        partner.private_open and not partner.private_blocked
        for _couple, partner in couples_of_user(session, user_id)
    )


def safety(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/safety: the resources in private. In a group: straight to the private chat when it
    is open (nothing more in the group), else one neutral line with a button to them."""
    if actor.in_private or _private_open(session, actor.user_id):
        return [resources_for(session, actor)]
    link = Button(label=text("safety.button_open_private"), url=PRIVATE_LINK)
    return [Send(ToChat(actor.chat_id), text("safety.in_group"), buttons=keyboard([link]))]


FEATURE = Feature(name="safety", commands={"safety": safety})
