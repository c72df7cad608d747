"""The couple's time zone and each partner's own: asked when the couple forms, changed
with /timezone and /mytimezone or a city given in reply, and the wall-clock timers that
follow a zone moved to the same local time in the new one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from flows import buttons
from flows.buttons import Press
from flows.couples import (
    Actor,
    Membership,
    guard,
    local_datetime,
    local_time,
    parse_zone,
    partner_of_user,
    partners_of,
    zone_label,
    zone_of,
)
from flows.feature import installed
from flows.inputs import Said
from flows.models import Couple, Partner
from flows.outcome import (
    CancelTimers,
    EditOrigin,
    EditTagged,
    Effects,
    Notice,
    Send,
    SetTimer,
    ToChat,
    ToGroup,
    keyboard,
    text,
)
from flows.recurrence import same_wall_time
from flows.timers import Due, PendingTimer, pending_timers

# The time-zone question when the couple forms: [That's right] [Change]; asked again once a
# day later while nobody has answered.
ZONE = "tz"
ZONE_REMINDER = "onboarding.zone_reminder"
ZONE_REMINDER_AFTER = timedelta(days=1)
# Reply tags of "Which city are you in?": the couple's zone, or one partner's own.
ZONE_TAG = "zone"
MY_ZONE_TAG = "myzone"


def zone_ref(couple: Couple) -> str:
    return f"couple:{couple.id}:zone"


def zone_question(couple: Couple, now: datetime, key: str = "onboarding.zone_question") -> Send:
    """ "Times are in Berlin: it's 19:05 there now." [That's right] [Change]"""
    zone = zone_of(couple)
    return Send(
        ToGroup(couple.id or 0),
        text(key, zone=zone_label(zone), local=local_time(now, zone)),
        buttons=keyboard(
            [
                buttons.button(text("onboarding.button_zone_ok"), ZONE, couple.id or 0, "ok"),
                buttons.button(
                    text("onboarding.button_zone_change"), ZONE, couple.id or 0, "change"
                ),
            ]
        ),
        # A city given in reply to this question is taken as the answer too.
        tag=f"{ZONE_TAG}:{couple.id}",
    )


def ask_city(couple: Couple, partner: Partner | None, to: ToChat | ToGroup, now: datetime) -> Send:
    """ "Which city are you in?" as a reply prompt, for the couple's zone or one partner's."""
    zone = zone_of(couple, partner)
    if partner is None:
        return Send(
            to,
            text("onboarding.ask_city", zone=zone_label(zone), local=local_time(now, zone)),
            force_reply=True,
            tag=f"{ZONE_TAG}:{couple.id}",
        )
    return Send(
        to,
        text(
            "onboarding.ask_my_city",
            name=partner.first_name,
            zone=zone_label(zone),
            local=local_time(now, zone),
        ),
        force_reply=True,
        tag=f"{MY_ZONE_TAG}:{partner.id}",
    )


def move_local_timers(
    session: Session, couple: Couple, old: ZoneInfo, new: ZoneInfo, partner: Partner | None = None
) -> Effects:
    """Every pending wall-clock timer that follows the changed zone, at the same local time
    in the new one (a Sunday 19:00 in Berlin becomes Sunday 19:00 in New York, whatever
    either side's daylight saving does). `partner` None: the couple's zone changed, which
    moves what follows it (not a partner's own zone); otherwise that partner's own zone.

    Effects, not row edits: the timers of a group are cancelled by ref and set again."""
    if old.key == new.key:
        return []
    by_ref: dict[str, list[PendingTimer]] = {}
    for timer in pending_timers(session, couple.id or 0):
        if timer.ref is not None:
            by_ref.setdefault(timer.ref, []).append(timer)
    own_zone = {p.id for p in partners_of(session, couple.id or 0) if p.timezone}
    effects: Effects = []
    for ref, rows in by_ref.items():
        moving: set[int] = set()
        for index, timer in enumerate(rows):
            owner_of = installed().local_time_timers.get(timer.kind)
            if owner_of is None:
                continue
            owner = owner_of(session, timer.payload)
            follows = (
                (owner == partner.id)
                if partner is not None
                else (owner is None or owner not in own_zone)
            )
            if follows:
                moving.add(index)
        if not moving:
            continue
        effects.append(CancelTimers(couple.id or 0, ref=ref))
        for index, timer in enumerate(rows):
            due = timer.due_at
            if index in moving:
                due = same_wall_time(due, old, new)
            effects.append(SetTimer(timer.kind, couple.id or 0, due, dict(timer.payload), ref=ref))
    return effects


def change_couple_zone(session: Session, couple: Couple, zone: str, now: datetime) -> Effects:
    """The couple's zone is set (or confirmed): timers follow, weekly plans are made."""
    old = zone_of(couple)
    couple.timezone = zone
    was_pending = couple.zone_pending
    couple.zone_pending = False
    session.add(couple)
    effects = move_local_timers(session, couple, old, zone_of(couple))
    for hook in installed().on_zone_change:
        effects.extend(hook(session, couple, now))
    if was_pending:
        effects.append(CancelTimers(couple.id or 0, ref=zone_ref(couple)))
    return effects


def set_timezone(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/timezone <zone or city>: the couple's zone, used for schedules and times shown.
    Bare, it says which zone is set and asks for a city as a reply."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    reply = ToChat(actor.chat_id)
    if not args.strip():
        return [ask_city(found.couple, None, reply, now)]
    zone = parse_zone(args)
    if zone is None:
        return [Send(reply, text("onboarding.timezone_unknown", given=args.strip()[:40]))]
    return _zone_set(session, found.couple, zone, now)


def _zone_set(session: Session, couple: Couple, zone: str, now: datetime) -> Effects:
    # Typed (or a city given) while "Is that where you are?" still waits: its buttons go.
    settled: Effects = []
    if couple.zone_pending:
        line = text("onboarding.zone_settled", zone=zone_label(ZoneInfo(zone)))
        settled.append(EditTagged(ToGroup(couple.id or 0), f"{ZONE_TAG}:{couple.id}", line))
    return [
        *settled,
        *change_couple_zone(session, couple, zone, now),
        Send(
            ToGroup(couple.id or 0),
            text("onboarding.timezone_set", zone=zone, local=local_datetime(now, zone_of(couple))),
        ),
    ]


def set_my_timezone(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/mytimezone <zone>: one partner's own zone (long-distance couples); `off` clears it.
    Bare, it asks for a city as a reply."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    reply = ToChat(actor.chat_id)
    raw = args.strip()
    if not raw:
        return [ask_city(found.couple, found.partner, reply, now)]
    if raw.lower() in {"off", "reset", "none"}:
        return _my_zone_set(session, found.couple, found.partner, None, reply)
    zone = parse_zone(raw)
    if zone is None:
        return [Send(reply, text("onboarding.timezone_unknown", given=raw[:40]))]
    return _my_zone_set(session, found.couple, found.partner, zone, reply)


def _my_zone_set(
    session: Session, couple: Couple, partner: Partner, zone: str | None, reply: ToChat
) -> Effects:
    old = zone_of(couple, partner)
    partner.timezone = zone
    session.add(partner)
    moved = move_local_timers(session, couple, old, zone_of(couple, partner), partner)
    if zone is None:
        return [*moved, Send(reply, text("onboarding.mytimezone_cleared", zone=couple.timezone))]
    return [
        *moved,
        Send(reply, text("onboarding.mytimezone_set", name=partner.first_name, zone=zone)),
    ]


def press_zone(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """[That's right]: the zone is settled and the weekly plans are made. [Change]: which city?"""
    couple = session.get(Couple, press.target_id)
    if (
        couple is None
        or couple.group_chat_id != actor.chat_id
        or couple.formed_at is None
        or press.action not in {"ok", "change"}
    ):
        return buttons.expired()
    partner = partner_of_user(session, couple.id or 0, actor.user_id)
    if partner is None:
        return buttons.expired()
    if press.action == "change":
        return [
            Notice(text("onboarding.zone_change_notice")),
            ask_city(couple, None, ToGroup(couple.id or 0), now),
        ]
    if not couple.zone_pending:
        return [
            Notice(text("onboarding.zone_confirmed_notice")),
            EditOrigin(body=text("onboarding.zone_settled", zone=zone_label(zone_of(couple)))),
        ]
    return [
        *change_couple_zone(session, couple, couple.timezone, now),
        Notice(text("onboarding.zone_confirmed_notice")),
        EditOrigin(
            body=text(
                "onboarding.zone_confirmed",
                name=partner.first_name,
                zone=zone_label(zone_of(couple)),
            )
        ),
    ]


def remind_zone(session: Session, due: Due) -> Effects:
    """Once, a day after forming: the zone question again, if nobody answered it."""
    couple = session.get(Couple, due.couple_id)
    if couple is None or couple.formed_at is None or not couple.zone_pending:
        return []
    return [zone_question(couple, due.now, "onboarding.zone_reminder")]


def city_answer(session: Session, actor: Actor, said: Said, now: datetime) -> Effects | None:
    """A city (or zone name) given in reply to "Which city are you in?"."""
    tag = said.reply_to_tag or ""
    kind, _, target = tag.partition(":")
    if kind not in {ZONE_TAG, MY_ZONE_TAG} or not target.isdigit():
        return None
    cleared = kind == MY_ZONE_TAG and said.text.strip().lower() in {"off", "reset", "none"}
    zone = parse_zone(said.text)
    if zone is None and not cleared and not said.is_reply:
        return None  # typed later in private about something else: not an answer to this
    reply = ToChat(actor.chat_id)
    if kind == ZONE_TAG:
        couple = session.get(Couple, int(target))
        if couple is None or couple.formed_at is None:
            return None
        partner = partner_of_user(session, couple.id or 0, actor.user_id)
    else:
        owner = session.get(Partner, int(target))
        couple = session.get(Couple, owner.couple_id) if owner is not None else None
        if owner is None or couple is None:
            return None
        partner = owner if owner.user_id == actor.user_id else None
        if partner is None and partner_of_user(session, couple.id or 0, actor.user_id):
            return [Send(reply, text("onboarding.zone_not_yours", name=owner.first_name))]
    if partner is None:
        refusal = guard(session, actor, now)
        return refusal if isinstance(refusal, list) else []
    if cleared:
        return _my_zone_set(session, couple, partner, None, reply)
    if zone is None:
        asked = ask_city(couple, partner if kind == MY_ZONE_TAG else None, reply, now)
        return [
            Send(reply, text("onboarding.timezone_unknown", given=said.text.strip()[:40])),
            asked,
        ]
    if kind == ZONE_TAG:
        return _zone_set(session, couple, zone, now)
    return _my_zone_set(session, couple, partner, zone, reply)
