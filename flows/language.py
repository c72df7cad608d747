"""/language: each person is written to in their own language, the group in the couple's.

A person starts with Telegram's language code (stored when they join); /language in
private changes it for every couple they are in, and /language in the group changes the
couple's. The choices are the shipped catalogues, one button each.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot.texts import languages, name_of
from flows import buttons
from flows.buttons import Press
from flows.couples import Actor, Membership, couples_of_user, guard, partner_of_user
from flows.feature import Feature
from flows.models import Couple
from flows.outcome import EditOrigin, Effects, Keyboard, Notice, Send, ToChat, ToGroup, text

KIND = "lg"  # target: the couple (in a group) or 0 (a person's own language, in private)
MAX_ARGS = 32


def _chosen(said: str) -> str | None:
    """A shipped language named by its code ("de") or its own name ("Deutsch")."""
    wanted = " ".join(said.lower().split())
    for language in languages():
        if wanted in {language.lower(), name_of(language).lower()}:
            return language
    return None


def _choices(target_id: int) -> Keyboard:
    return tuple(
        (
            buttons.button(
                text("language.button", name=name_of(language)), KIND, target_id, language
            ),
        )
        for language in languages()
    )


def choose(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/language [name]: set it at once when named, otherwise one button per language."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    chosen = _chosen(args) if args.strip() and len(args) <= MAX_ARGS else None
    if chosen is not None:
        return _set(session, actor, found.couple, chosen)
    if actor.in_private:
        return [Send(ToChat(actor.chat_id), text("language.choose"), buttons=_choices(0))]
    return [
        Send(
            ToChat(actor.chat_id), text("language.choose_group"), buttons=_choices(found.couple_id)
        )
    ]


def _set(session: Session, actor: Actor, couple: Couple, language: str) -> Effects:
    if actor.in_private:
        for _couple, partner in couples_of_user(session, actor.user_id):
            partner.language = language
            session.add(partner)
        return [Send(ToChat(actor.chat_id, language), text("language.set"))]
    couple.language = language
    session.add(couple)
    return [Send(ToGroup(couple.id or 0), text("language.set_group"))]


def press_language(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """One of the language buttons: the person's own (private) or the couple's (group)."""
    if press.action not in languages():
        return buttons.expired()
    if actor.in_private:
        found = guard(session, actor, now)
        if press.target_id != 0 or not isinstance(found, Membership):
            return buttons.expired()
        for _couple, partner in couples_of_user(session, actor.user_id):
            partner.language = press.action
            session.add(partner)
        return [EditOrigin(body=text("language.set"), buttons=())]
    couple = session.get(Couple, press.target_id)
    if couple is None or couple.group_chat_id != actor.chat_id:
        return buttons.expired()
    if partner_of_user(session, couple.id or 0, actor.user_id) is None:
        return [Notice(text("language.not_partner"))]
    couple.language = press.action
    session.add(couple)
    return [EditOrigin(body=text("language.set_group"), buttons=())]


FEATURE = Feature(
    name="language",
    commands={"language": choose},
    buttons={KIND: press_language},
)
