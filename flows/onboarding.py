"""Onboarding: the bot joins a group, two people tap "I'm in", each opens a private chat.

Also the couple's settings (time zones), `/help`, `/settings` and `/leave`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col

from flows import buttons
from flows.buttons import Press, on_press
from flows.couples import (
    Actor,
    Membership,
    couple_for_chat,
    couples_of_user,
    guard,
    local_datetime,
    other_partner,
    parse_zone,
    partners_of,
    zone_label,
    zone_of,
)
from flows.models import Couple, Outbox, Partner, Timer
from flows.outcome import (
    Button,
    CancelTimers,
    EditOrigin,
    Effects,
    Notice,
    Send,
    SetTimer,
    Text,
    ToChat,
    ToGroup,
    keyboard,
    text,
)
from flows.timers import Due, timer_kind

JOIN = "join"
LEAVE = "leave"
DEEP_LINK_PREFIX = "c"
INVITE_REMINDER = "onboarding.invite_reminder"
# A day after forming, one reminder for whoever has not opened the private chat yet.
INVITE_REMINDER_AFTER = timedelta(days=1)

# Lines other features add to /settings: (session, couple, reader) -> texts.
SettingsLines = Callable[[Session, Couple, Partner], list[Text]]
SETTINGS_LINES: list[SettingsLines] = []

# What other features do when a partner leaves (cancel their rituals, keep history).
LeaveHooks = Callable[[Session, Couple, Partner, datetime], Effects]
ON_LEAVE: list[LeaveHooks] = []
# Other ways to leave a feature offers as extra buttons on the /leave question, e.g. "leave
# and delete my private answers": action -> (button label, what it does besides leaving).
LEAVE_CHOICES: dict[str, tuple[Text, LeaveHooks]] = {}

# What other features set up when a couple forms (e.g. the weekly check-in schedule).
FormedHooks = Callable[[Session, Couple, datetime], Effects]
ON_FORMED: list[FormedHooks] = []

# What other features re-plan when the couple's time zone changes (local-time schedules).
ZoneHooks = Callable[[Session, Couple, datetime], Effects]
ON_ZONE_CHANGE: list[ZoneHooks] = []


def settings_line(provider: SettingsLines) -> SettingsLines:
    SETTINGS_LINES.append(provider)
    return provider


def deep_link(couple_id: int) -> str:
    """A `start:` link; the shell turns it into t.me/<bot>?start=<payload>."""
    return f"start:{DEEP_LINK_PREFIX}{couple_id}"


def ensure_couple(session: Session, chat_id: int, title: str, default_zone: str,
                  now: datetime, language: str = "en") -> Couple:
    couple = couple_for_chat(session, chat_id)
    if couple is None:
        # Until a partner joins, the group hears the language of whoever brought Mend in.
        couple = Couple(group_chat_id=chat_id, title=title, timezone=default_zone,
                        created_at=now, language=language)
        session.add(couple)
        session.flush()
    elif title and couple.title != title:
        couple.title = title
        session.add(couple)
    return couple


def bot_membership(session: Session, chat_id: int, title: str, status: str, default_zone: str,
                   now: datetime, language: str = "en") -> Effects:
    """The bot was added to, or removed from, a group."""
    if status in {"member", "administrator"}:
        couple = couple_for_chat(session, chat_id)
        returning = couple is not None
        couple = ensure_couple(session, chat_id, title, default_zone, now, language)
        if returning and not couple.group_reachable:
            couple.group_reachable = True
            session.add(couple)
            # What waited while the bot was out goes out now.
            session.execute(
                update(Outbox).where(col(Outbox.chat_id) == chat_id, col(Outbox.state) == "held")
                .values(state="pending")
            )
            return [Send(ToGroup(couple.id or 0), text("onboarding.welcome_back"))]
        if returning and couple.formed_at is not None:
            return []
        return [Send(ToChat(chat_id), text("onboarding.welcome"))]
    couple = couple_for_chat(session, chat_id)
    if couple is not None:
        couple.group_reachable = False
        session.add(couple)
    return []


def migrate_chat(session: Session, old_chat_id: int, new_chat_id: int) -> Effects:
    """A group became a supergroup: same couple, new chat id."""
    couple = couple_for_chat(session, old_chat_id)
    if couple is None or couple_for_chat(session, new_chat_id) is not None:
        return []
    couple.group_chat_id = new_chat_id
    session.add(couple)
    session.execute(
        update(Outbox).where(col(Outbox.chat_id) == old_chat_id, col(Outbox.state) != "sent")
        .values(chat_id=new_chat_id)
    )
    return []


def start(session: Session, actor: Actor, args: str, default_zone: str,
          now: datetime) -> Effects:
    """/start: in a group, the invitation to join; in private, linking the private chat."""
    if actor.in_private:
        return _start_private(session, actor, args, now)
    couple = ensure_couple(session, actor.chat_id, actor.chat_title, default_zone, now,
                           actor.language)
    partners = partners_of(session, couple.id or 0)
    if couple.formed_at is not None:
        names = {"a": partners[0].first_name, "b": partners[1].first_name}
        return [Send(ToGroup(couple.id or 0), text("onboarding.already_formed", **names))]
    return [
        Send(
            ToChat(actor.chat_id),
            text("onboarding.intro"),
            buttons=keyboard([buttons.button(text("onboarding.button_join"), JOIN,
                                             couple.id or 0, "in")]),
        )
    ]


def _start_private(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    mine = couples_of_user(session, actor.user_id)
    if not mine:
        return [Send(ToChat(actor.chat_id, actor.language), text("onboarding.private_stranger"))]
    # One private chat serves every couple this person is in.
    for _couple, partner in mine:
        partner.private_open = True
        partner.private_blocked = False
        session.add(partner)
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


@on_press(JOIN)
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
    joined = Partner(couple_id=couple.id or 0, user_id=actor.user_id,
                     first_name=actor.first_name or "Partner", joined_at=now,
                     last_active_at=now, language=actor.language)
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
    session.add(couple)
    link = Button(label=text("onboarding.button_open_private"), url=deep_link(couple.id or 0))
    formed: Effects = []
    for hook in ON_FORMED:
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
        SetTimer(INVITE_REMINDER, couple.id or 0, now + INVITE_REMINDER_AFTER,
                 ref=f"couple:{couple.id}:invite"),
    ]


@timer_kind(INVITE_REMINDER, useful_for=timedelta(days=3))
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
    return [Send(ToGroup(due.couple_id), text("onboarding.invite_reminder", names=names),
                 buttons=keyboard([link]))]


def set_timezone(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/timezone <zone or city>: the couple's zone, used for schedules and times shown."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    reply = ToChat(actor.chat_id)
    if not args.strip():
        return [Send(reply, text("onboarding.timezone_current",
                                 zone=found.couple.timezone))]
    zone = parse_zone(args)
    if zone is None:
        return [Send(reply, text("onboarding.timezone_unknown", given=args.strip()[:40]))]
    found.couple.timezone = zone
    session.add(found.couple)
    replanned: Effects = []
    for hook in ON_ZONE_CHANGE:
        replanned.extend(hook(session, found.couple, now))
    return [*replanned,
            Send(ToGroup(found.couple_id), text("onboarding.timezone_set", zone=zone,
                                                local=local_datetime(now, zone_of(found.couple))))]


def set_my_timezone(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/mytimezone <zone>: one partner's own zone (long-distance couples); `off` clears it."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    reply = ToChat(actor.chat_id)
    raw = args.strip()
    if not raw:
        own = found.partner.timezone or found.couple.timezone
        return [Send(reply, text("onboarding.mytimezone_current", zone=own))]
    if raw.lower() in {"off", "reset", "none"}:
        found.partner.timezone = None
        session.add(found.partner)
        return [Send(reply, text("onboarding.mytimezone_cleared", zone=found.couple.timezone))]
    zone = parse_zone(raw)
    if zone is None:
        return [Send(reply, text("onboarding.timezone_unknown", given=raw[:40]))]
    found.partner.timezone = zone
    session.add(found.partner)
    return [Send(reply, text("onboarding.mytimezone_set", name=found.partner.first_name,
                             zone=zone))]


def show_settings(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/settings: everything that is set, times in the reader's zone."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    couple = found.couple
    lines: list[Text] = [text("onboarding.settings_zone", zone=couple.timezone)]
    for partner in partners_of(session, found.couple_id):
        lines.append(text(
            "onboarding.settings_partner",
            name=partner.first_name,
            zone=zone_label(zone_of(couple, partner)),
            private=text("onboarding.private_yes" if partner.private_open
                         and not partner.private_blocked else "onboarding.private_no"),
        ))
    for provider in SETTINGS_LINES:
        lines.extend(provider(session, couple, found.partner))
    return [Send(ToChat(actor.chat_id), text("onboarding.settings", title=couple.title,
                                             lines=tuple(lines)))]


def show_help(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    key = "onboarding.help_private" if actor.in_private else "onboarding.help_group"
    return [Send(ToChat(actor.chat_id), text(key))]


def leave(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/leave: asks first; leaving ends the couple's rituals but keeps the group usable."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    return [Send(
        ToChat(actor.chat_id),
        text("onboarding.leave_confirm", title=found.couple.title),
        buttons=keyboard(
            [buttons.button(text("onboarding.button_leave"), LEAVE, found.partner_id, "yes")],
            *([buttons.button(label, LEAVE, found.partner_id, action)]
              for action, (label, _hook) in LEAVE_CHOICES.items()),
            [buttons.button(text("onboarding.button_stay"), LEAVE, found.partner_id, "no")],
        ),
    )]


@on_press(LEAVE)
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
    for hook in ON_LEAVE:
        effects.extend(hook(session, couple, partner, now))
    if press.action in LEAVE_CHOICES:
        effects.extend(LEAVE_CHOICES[press.action][1](session, couple, partner, now))
    remaining = other_partner(session, partner)
    session.execute(delete(Partner).where(col(Partner.id) == partner.id))
    couple.formed_at = None
    session.add(couple)
    effects.append(CancelTimers(couple.id or 0))
    session.execute(
        update(Timer).where(col(Timer.couple_id) == couple.id, col(Timer.state) == "pending")
        .values(state="cancelled", finished_at=now)
    )
    effects.append(EditOrigin(body=text("onboarding.left_private")))
    effects.append(Send(ToGroup(couple.id or 0), text(
        "onboarding.left_group", name=partner.first_name,
        other=remaining.first_name if remaining else "")))
    return effects

