"""Onboarding: the bot joins a group, two people tap "I'm in", each opens a private chat.

Also `/help`, `/settings` and `/leave`; the couple's time zones are in `zones.py`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col

from flows import buttons, safety
from flows.buttons import Press
from flows.couples import (
    ADD_TO_GROUP,
    Actor,
    Membership,
    couple_for_chat,
    couples_of_user,
    guard,
    other_partner,
    partners_of,
    zone_label,
    zone_of,
)
from flows.erasure import erase_couple
from flows.feature import Feature, installed
from flows.inputs import Said
from flows.models import Couple, Partner
from flows.onboarding.zones import (
    ZONE,
    ZONE_REMINDER,
    ZONE_REMINDER_AFTER,
    city_answer,
    press_zone,
    remind_zone,
    set_my_timezone,
    set_timezone,
    zone_question,
    zone_ref,
)
from flows.outcome import (
    Button,
    CancelTimers,
    EditOrigin,
    Effects,
    MoveChat,
    Notice,
    ReleaseHeld,
    Send,
    SetTimer,
    Text,
    ToChat,
    ToGroup,
    keyboard,
    text,
)
from flows.timers import Due, TimerKind

log = logging.getLogger(__name__)

JOIN = "join"
LEAVE = "leave"
DEEP_LINK_PREFIX = "c"
INVITE_REMINDER = "onboarding.invite_reminder"
# A day after forming, one reminder for whoever has not opened the private chat yet.
INVITE_REMINDER_AFTER = timedelta(days=1)


def deep_link(couple_id: int) -> str:
    """A `start:` link; the shell turns it into t.me/<bot>?start=<payload>."""
    return f"start:{DEEP_LINK_PREFIX}{couple_id}"


def ensure_couple(
    session: Session,
    chat_id: int,
    title: str,
    default_zone: str,
    now: datetime,
    language: str = "en",
) -> Couple:
    couple = couple_for_chat(session, chat_id)
    if couple is None:
        # Until a partner joins, the group hears the language of whoever brought Mend in.
        couple = Couple(
            group_chat_id=chat_id,
            title=title,
            timezone=default_zone,
            created_at=now,
            language=language,
        )
        session.add(couple)
        session.flush()
    elif title and couple.title != title:
        couple.title = title
        session.add(couple)
    return couple


def bot_membership(
    session: Session,
    chat_id: int,
    title: str,
    status: str,
    default_zone: str,
    now: datetime,
    language: str = "en",
) -> Effects:
    """The bot was added to, or removed from, a group."""
    if status in {"member", "administrator"}:
        couple = couple_for_chat(session, chat_id)
        returning = couple is not None
        couple = ensure_couple(session, chat_id, title, default_zone, now, language)
        if returning and not couple.group_reachable:
            couple.group_reachable = True
            session.add(couple)
            # What waited while the bot was out goes out now.
            return [
                ReleaseHeld(chat_id),
                Send(ToGroup(couple.id or 0), text("onboarding.welcome_back")),
            ]
        if returning and couple.formed_at is not None:
            return []
        return [Send(ToChat(chat_id), text("onboarding.welcome"))]
    couple = couple_for_chat(session, chat_id)
    if couple is not None:
        couple.group_reachable = False
        session.add(couple)
    return []


def migrate_chat(session: Session, old_chat_id: int, new_chat_id: int) -> Effects:
    """A group became a supergroup: same couple, new chat id.

    Someone may already have sent /start in the supergroup, which made a new, unformed
    couple there: it gives way to the couple that moved (it has no history). Two formed
    couples are never merged: the one at the new id stays, and a warning is logged.
    """
    couple = couple_for_chat(session, old_chat_id)
    there = couple_for_chat(session, new_chat_id)
    if couple is not None and there is not None and there.id != couple.id:
        if there.formed_at is not None:
            log.warning(
                "group of couple %s moved to the chat of couple %s; kept apart", couple.id, there.id
            )
            couple = None
        else:
            session.expunge(there)
            erase_couple(session, there.id or 0)
    if couple is not None and couple.group_chat_id != new_chat_id:
        couple.group_chat_id = new_chat_id
        session.add(couple)
    return [MoveChat(old_chat_id, new_chat_id)]


def start(session: Session, actor: Actor, args: str, default_zone: str, now: datetime) -> Effects:
    """/start: in a group, the invitation to join; in private, linking the private chat."""
    if actor.in_private:
        return _start_private(session, actor, args, now)
    couple = ensure_couple(
        session, actor.chat_id, actor.chat_title, default_zone, now, actor.language
    )
    partners = partners_of(session, couple.id or 0)
    if couple.formed_at is not None:
        names = {"a": partners[0].first_name, "b": partners[1].first_name}
        return [Send(ToGroup(couple.id or 0), text("onboarding.already_formed", **names))]
    return [
        Send(
            ToChat(actor.chat_id),
            text("onboarding.intro"),
            buttons=keyboard(
                [buttons.button(text("onboarding.button_join"), JOIN, couple.id or 0, "in")]
            ),
        )
    ]


def stranger_in_private(actor: Actor) -> Effects:
    """Someone with no couple writes privately: how to begin, with one tap to add Mend."""
    add = Button(label=text("onboarding.button_add_to_group"), url=ADD_TO_GROUP)
    return [
        Send(
            ToChat(actor.chat_id, actor.language),
            text("onboarding.private_stranger"),
            buttons=keyboard([add]),
        )
    ]


def _start_private(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    mine = couples_of_user(session, actor.user_id)
    # One private chat serves every couple this person is in.
    for _couple, partner in mine:
        partner.private_open = True
        partner.private_blocked = False
        session.add(partner)
    if args.strip() == safety.START_PAYLOAD:
        # The group's /safety button: the resources at once, nothing else.
        return [safety.resources_for(session, actor)]
    if not mine:
        return stranger_in_private(actor)
    chosen = mine[0]
    payload = args.strip()
    if payload.startswith(DEEP_LINK_PREFIX) and payload[1:].isdigit():
        for couple, partner in mine:
            if couple.id == int(payload[1:]):
                chosen = (couple, partner)
        chosen[1].last_active_at = now
    couple, partner = chosen
    return [
        Send(
            ToChat(actor.chat_id),
            text("onboarding.private_linked", name=partner.first_name, title=couple.title),
        )
    ]


def press_join(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """ "I'm in": the first two people form the couple; a third is turned away kindly."""
    couple = session.get(Couple, press.target_id)
    if couple is None or couple.group_chat_id != actor.chat_id or press.action != "in":
        return buttons.expired()
    partners = partners_of(session, couple.id or 0)
    if any(partner.user_id == actor.user_id for partner in partners):
        return [Notice(text("onboarding.already_in"))]
    if len(partners) >= 2:
        return [Notice(text("onboarding.couple_full"), alert=True)]
    joined = Partner(
        couple_id=couple.id or 0,
        user_id=actor.user_id,
        first_name=actor.first_name or "Partner",
        joined_at=now,
        last_active_at=now,
        language=actor.language,
    )
    # Someone who already opened the bot's private chat for another couple has it open here too.
    elsewhere = couples_of_user(session, actor.user_id)
    if elsewhere:
        joined.private_open = elsewhere[0][1].private_open
        joined.private_blocked = elsewhere[0][1].private_blocked
        joined.language = elsewhere[0][1].language
    session.add(joined)
    session.flush()
    if not partners:
        # The group speaks the first partner's language (changeable with /language).
        couple.language = joined.language
        session.add(couple)
        return [
            Notice(text("onboarding.joined_first_notice")),
            Send(ToGroup(couple.id or 0), text("onboarding.joined_first", name=joined.first_name)),
        ]
    first = partners[0]
    couple.formed_at = now
    # Nothing weekly is planned until one of them says the zone is right (or changes it).
    couple.zone_pending = True
    session.add(couple)
    link = Button(label=text("onboarding.button_open_private"), url=deep_link(couple.id or 0))
    formed: Effects = []
    for hook in installed().on_formed:
        formed.extend(hook(session, couple, now))
    return [
        *formed,
        Notice(text("onboarding.formed_notice")),
        EditOrigin(body=text("onboarding.intro_done"), buttons=()),
        Send(
            ToGroup(couple.id or 0),
            text("onboarding.formed", a=first.first_name, b=joined.first_name),
            buttons=keyboard([link]),
        ),
        zone_question(couple, now),
        SetTimer(
            INVITE_REMINDER,
            couple.id or 0,
            now + INVITE_REMINDER_AFTER,
            ref=f"couple:{couple.id}:invite",
        ),
        SetTimer(ZONE_REMINDER, couple.id or 0, now + ZONE_REMINDER_AFTER, ref=zone_ref(couple)),
    ]


def remind_to_open_private(session: Session, due: Due) -> Effects:
    """Once: whoever has not opened the private chat yet gets a nudge with the link."""
    couple = session.get(Couple, due.couple_id)
    if couple is None or couple.formed_at is None:
        return []
    missing = [p for p in partners_of(session, due.couple_id) if not p.private_open]
    if not missing:
        return []
    names = " & ".join(partner.first_name for partner in missing)
    link = Button(label=text("onboarding.button_open_private"), url=deep_link(due.couple_id))
    return [
        Send(
            ToGroup(due.couple_id),
            text("onboarding.invite_reminder", names=names),
            buttons=keyboard([link]),
        )
    ]


def unplaced(session: Session, actor: Actor, said: Said, now: datetime) -> Effects | None:
    """Text no feature took: say where it belongs, so nothing anyone writes goes unanswered.

    In private, a partner hears that their partner did not get it; in the group, a reply to
    one of Mend's messages hears where their questions are (and that both can read it)."""
    if actor.in_private:
        mine = couples_of_user(session, actor.user_id)
        if not mine:
            return stranger_in_private(actor)
        other = other_partner(session, mine[0][1])
        if other is None:
            return None
        return [Send(ToChat(actor.chat_id), text("common.private_only_me", other=other.first_name))]
    if not said.is_reply:
        return None
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    other = other_partner(session, found.partner)
    names = {"name": found.partner.first_name, "other": other.first_name if other else ""}
    if found.partner.private_open and not found.partner.private_blocked:
        link = Button(label=text("onboarding.button_open_private"), url=deep_link(found.couple_id))
        return [
            Send(
                ToChat(actor.chat_id),
                text("common.reply_in_private", **names),
                buttons=keyboard([link]),
            )
        ]
    return [Send(ToChat(actor.chat_id), text("common.reply_unplaced", **names))]


def show_settings(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/settings: everything that is set, times in the reader's zone."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    couple = found.couple
    lines: list[Text] = [text("onboarding.settings_zone", zone=couple.timezone)]
    for partner in partners_of(session, found.couple_id):
        lines.append(
            text(
                "onboarding.settings_partner",
                name=partner.first_name,
                zone=zone_label(zone_of(couple, partner)),
                private=text(
                    "onboarding.private_yes"
                    if partner.private_open and not partner.private_blocked
                    else "onboarding.private_no"
                ),
            )
        )
    for provider in installed().settings_lines:
        lines.extend(provider(session, couple, found.partner))
    return [
        Send(
            ToChat(actor.chat_id),
            text("onboarding.settings", title=couple.title, lines=tuple(lines)),
        )
    ]


def show_help(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    key = "onboarding.help_private" if actor.in_private else "onboarding.help_group"
    return [Send(ToChat(actor.chat_id), text(key))]


def leave(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/leave: asks first; leaving ends the couple's rituals but keeps the group usable."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    return [
        Send(
            ToChat(actor.chat_id),
            text("onboarding.leave_confirm", title=found.couple.title),
            buttons=keyboard(
                [buttons.button(text("onboarding.button_leave"), LEAVE, found.partner_id, "yes")],
                *(
                    [buttons.button(label, LEAVE, found.partner_id, action)]
                    for action, (label, _hook) in installed().leave_choices.items()
                ),
                [buttons.button(text("onboarding.button_stay"), LEAVE, found.partner_id, "no")],
            ),
        )
    ]


def press_leave(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    partner = session.get(Partner, press.target_id)
    if partner is None or partner.user_id != actor.user_id:
        return buttons.expired()
    if press.action == "no":
        return [EditOrigin(body=text("onboarding.leave_kept"))]
    couple = session.get(Couple, partner.couple_id)
    if couple is None:
        return buttons.expired()
    effects: Effects = []
    for hook in installed().on_leave:
        effects.extend(hook(session, couple, partner, now))
    choices = installed().leave_choices
    if press.action in choices:
        effects.extend(choices[press.action][1](session, couple, partner, now))
    remaining = other_partner(session, partner)
    session.execute(delete(Partner).where(col(Partner.id) == partner.id))
    couple.formed_at = None
    session.add(couple)
    effects.append(CancelTimers(couple.id or 0))
    effects.append(EditOrigin(body=text("onboarding.left_private")))
    effects.append(
        Send(
            ToGroup(couple.id or 0),
            text(
                "onboarding.left_group",
                name=partner.first_name,
                other=remaining.first_name if remaining else "",
            ),
        )
    )
    return effects


FEATURE = Feature(
    name="onboarding",
    # /start is wired in bot/app.py: it needs Telegram's member count.
    commands={
        "timezone": set_timezone,
        "mytimezone": set_my_timezone,
        "settings": show_settings,
        "help": show_help,
        "leave": leave,
    },
    buttons={JOIN: press_join, ZONE: press_zone, LEAVE: press_leave},
    # "I'm in" is pressed by whoever joins, before there is a couple.
    open_buttons=frozenset({JOIN}),
    timers=(
        TimerKind(INVITE_REMINDER, remind_to_open_private, useful_for=timedelta(days=3)),
        TimerKind(ZONE_REMINDER, remind_zone, useful_for=timedelta(days=3)),
    ),
    on_text=(city_answer,),
    unplaced_text=unplaced,
)
