"""Who is who: finding the couple of a chat, the partner behind a user, and their zones."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cache
from itertools import chain
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, SessionTransaction
from sqlmodel import Session, col, select

from flows.models import Couple, Partner
from flows.outcome import ClockTime, Moment, Text

ACTIVITY_GRANULARITY = timedelta(minutes=5)
# Where "Add Mend to your group" leads (the shell makes it t.me/<bot>?startgroup=mend).
ADD_TO_GROUP = "startgroup:mend"
# The couple a private update is about, once its person chose it (flows/choosing.py).
CHOSEN_COUPLE: ContextVar[int | None] = ContextVar("chosen_couple", default=None)


@dataclass(frozen=True)
class Actor:
    """Who did something, and where: what the shell knows about an update."""

    user_id: int
    first_name: str
    chat_id: int
    chat_type: str  # "private", "group" or "supergroup"
    chat_title: str = ""
    language: str = "en"
    # The couple of the bot's message this one replies to, if any (the shell looks it up):
    # it can say which couple is meant.
    replied_to_couple: int | None = None

    @property
    def in_private(self) -> bool:
        return self.chat_type == "private"


# Who is who, looked up once per transaction: one update asked for the same couple and
# partners up to seven times (the guard, the flow, its wording, the outbox's language).
# Forgotten whenever couples or partners may have changed: a couple or partner added,
# deleted or changed in the session, any write statement, a flush, the end of the
# transaction.
_MEMO = "mend_who_is_who"


def _remembered(session: Session, key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
    memo: dict[tuple[Any, ...], Any] | None = session.info.get(_MEMO)
    if memo is None:
        memo = session.info[_MEMO] = {}
    if _changing(session):
        memo.clear()
        return load()
    if key not in memo:
        memo[key] = load()
    return memo[key]


def _forget(session: Session) -> None:
    memo = session.info.get(_MEMO)
    if memo:
        memo.clear()


def _changing(session: Session) -> bool:
    return any(
        isinstance(row, (Couple, Partner))
        for row in chain(session.new, session.deleted, session.dirty)
    )


@event.listens_for(Session, "before_flush")
def _forget_before_flush(session: Session, _context: Any, _instances: Any) -> None:
    if _changing(session):
        _forget(session)


# Tables whose rows the lookups return; a write statement to any other leaves them be.
_WHO_TABLES = frozenset({"couple", "partner"})


@event.listens_for(Session, "do_orm_execute")
def _forget_on_write(state: ORMExecuteState) -> None:
    if state.is_select:
        return
    table = getattr(state.statement, "table", None)
    if table is not None and getattr(table, "name", None) not in _WHO_TABLES:
        return  # a write to another table: a pause, the inbox, the outbox
    _forget(state.session)  # type: ignore[arg-type]


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session: Session, transaction: SessionTransaction) -> None:
    # Not at the end of the inner transaction each flush runs in.
    if transaction.parent is None or transaction.nested:
        _forget(session)


def couple_for_chat(session: Session, chat_id: int) -> Couple | None:
    return _remembered(
        session,
        ("couple_for_chat", chat_id),
        lambda: session.exec(select(Couple).where(Couple.group_chat_id == chat_id)).first(),
    )


def partners_of(session: Session, couple_id: int) -> list[Partner]:
    query = select(Partner).where(Partner.couple_id == couple_id).order_by(col(Partner.id))
    found = _remembered(session, ("partners_of", couple_id), lambda: list(session.exec(query)))
    return list(found)


def partner_of_user(session: Session, couple_id: int, user_id: int) -> Partner | None:
    for partner in partners_of(session, couple_id):
        if partner.user_id == user_id:
            return partner
    return None


def other_partner(session: Session, partner: Partner) -> Partner | None:
    for candidate in partners_of(session, partner.couple_id):
        if candidate.id != partner.id:
            return candidate
    return None


def is_formed(session: Session, couple: Couple) -> bool:
    return couple.formed_at is not None and len(partners_of(session, couple.id or 0)) == 2


def couples_of_user(session: Session, user_id: int) -> list[tuple[Couple, Partner]]:
    query = (
        select(Couple, Partner)
        .join(Partner, col(Partner.couple_id) == col(Couple.id))
        .where(Partner.user_id == user_id)
        .order_by(col(Partner.last_active_at).desc())
    )
    found = _remembered(
        session,
        ("couples_of_user", user_id),
        lambda: [(couple, partner) for couple, partner in session.exec(query)],
    )
    return list(found)


def in_another_couple(session: Session, user_id: int, couple_id: int) -> bool:
    """Whether a partner of `couple_id` is a partner in another couple too (their private
    chat then says which couple a message is about). One narrow query, remembered."""
    query = (
        select(Partner.id)
        .where(Partner.user_id == user_id, Partner.couple_id != couple_id)
        .limit(1)
    )
    return bool(
        _remembered(
            session,
            ("in_another_couple", user_id, couple_id),
            lambda: session.exec(query).first() is not None,
        )
    )


@dataclass(frozen=True)
class Membership:
    """The acting partner and their couple, once an update is known to be theirs."""

    couple: Couple
    partner: Partner

    @property
    def couple_id(self) -> int:
        return self.couple.id or 0

    @property
    def partner_id(self) -> int:
        return self.partner.id or 0


def membership(session: Session, actor: Actor, now: datetime) -> Membership | None:
    """The couple this update acts for: the group's couple, or in private the partner's
    most recently active couple. None when the actor is not a partner there."""
    if actor.in_private:
        found = couples_of_user(session, actor.user_id)
        chosen = CHOSEN_COUPLE.get()
        if chosen is not None:
            found = [(couple, partner) for couple, partner in found if couple.id == chosen]
        if not found:
            return None
        couple, partner = found[0]
    else:
        maybe_couple = couple_for_chat(session, actor.chat_id)
        if maybe_couple is None:
            return None
        maybe_partner = partner_of_user(session, maybe_couple.id or 0, actor.user_id)
        if maybe_partner is None:
            return None
        couple, partner = maybe_couple, maybe_partner
    # Recency only decides which couple a private message is about, so a write every few
    # minutes is enough (and spares a write on every tap during a busy evening).
    if now - partner.last_active_at >= ACTIVITY_GRANULARITY:
        partner.last_active_at = now
        session.add(partner)
    return Membership(couple, partner)


def language_of_user(session: Session, user_id: int) -> str | None:
    """The language a person chose or joined with (the same in each of their couples)."""
    found = couples_of_user(session, user_id)
    return found[0][1].language if found else None


def language_of_chat(session: Session, chat_id: int) -> str | None:
    """A group is written to in its couple's language, a private chat in its person's."""
    couple = couple_for_chat(session, chat_id)
    if couple is not None:
        return couple.language
    return language_of_user(session, chat_id) if chat_id > 0 else None


def zone_of(couple: Couple, partner: Partner | None = None) -> ZoneInfo:
    name = (partner.timezone if partner is not None else None) or couple.timezone
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@cache
def _zones_by_city() -> dict[str, str]:
    by_city: dict[str, str] = {}
    for name in sorted(available_timezones()):
        if "/" not in name or name.startswith(("Etc/", "SystemV/", "posix/", "right/")):
            continue
        city = name.rsplit("/", 1)[1].replace("_", " ").lower()
        by_city.setdefault(city, name)
    by_city.update(
        {
            "nyc": "America/New_York",
            "sf": "America/Los_Angeles",
            "san francisco": "America/Los_Angeles",
            "washington": "America/New_York",
            "boston": "America/New_York",
            "seattle": "America/Los_Angeles",
            "munich": "Europe/Berlin",
            "hamburg": "Europe/Berlin",
            "frankfurt": "Europe/Berlin",
            "barcelona": "Europe/Madrid",
            "milan": "Europe/Rome",
            "mumbai": "Asia/Kolkata",
            "delhi": "Asia/Kolkata",
            "beijing": "Asia/Shanghai",
            "utc": "UTC",
            "gmt": "UTC",
            "cologne": "Europe/Berlin",
            "geneva": "Europe/Zurich",
            "bern": "Europe/Zurich",
            "basel": "Europe/Zurich",
        }
    )
    # German names, for German-speaking couples answering "Which city are you in?" (the
    # zone database knows "Vienna", "Zurich", not "Wien", "Zürich").
    by_city.update(
        {
            **dict.fromkeys(
                (
                    "münchen",
                    "köln",
                    "düsseldorf",
                    "stuttgart",
                    "leipzig",
                    "dresden",
                    "hannover",
                    "nürnberg",
                    "bremen",
                    "dortmund",
                    "essen",
                    "bonn",
                    "mannheim",
                    "karlsruhe",
                    "freiburg",
                    "münster",
                    "frankfurt am main",
                ),
                "Europe/Berlin",
            ),
            **dict.fromkeys(("wien", "graz", "linz", "salzburg", "innsbruck"), "Europe/Vienna"),
            **dict.fromkeys(("zürich", "genf", "lausanne", "luzern"), "Europe/Zurich"),
            "rom": "Europe/Rome",
            "mailand": "Europe/Rome",
            "prag": "Europe/Prague",
            "warschau": "Europe/Warsaw",
            "brüssel": "Europe/Brussels",
            "kopenhagen": "Europe/Copenhagen",
            "lissabon": "Europe/Lisbon",
            "athen": "Europe/Athens",
            "moskau": "Europe/Moscow",
            "luxemburg": "Europe/Luxembourg",
            "den haag": "Europe/Amsterdam",
            "peking": "Asia/Shanghai",
            "tokio": "Asia/Tokyo",
        }
    )
    # Typed without umlauts too: "Muenchen", "Munchen", "Zuerich", "Koln".
    for city, zone in list(by_city.items()):
        for spelled in (_transliterated(city), _without_marks(city)):
            by_city.setdefault(spelled, zone)
    return by_city


def _transliterated(city: str) -> str:
    return city.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")


def _without_marks(city: str) -> str:
    decomposed = unicodedata.normalize("NFKD", city)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def parse_zone(raw: str) -> str | None:
    """An IANA name ("Europe/Berlin") or a common city ("Berlin", "new york"); None if unknown."""
    cleaned = raw.strip()
    if not cleaned or len(cleaned) > 64:
        return None
    if "/" in cleaned or cleaned.upper() == "UTC":
        try:
            ZoneInfo(cleaned)
        except (ZoneInfoNotFoundError, ValueError):
            lowered = {name.lower(): name for name in available_timezones()}
            return lowered.get(cleaned.lower())
        return "UTC" if cleaned.upper() == "UTC" else cleaned
    city = " ".join(cleaned.replace("_", " ").lower().split())
    return _zones_by_city().get(city) or _zones_by_city().get(_without_marks(city))


def local_time(moment: datetime, zone: ZoneInfo) -> Moment:
    """A time as a partner reads it ("19:00"), worded in the reader's language."""
    return Moment(moment, str(zone.key), "time")


def local_datetime(moment: datetime, zone: ZoneInfo) -> Moment:
    """A date and time as a partner reads it ("Sun 24 Nov, 19:00")."""
    return Moment(moment, str(zone.key), "datetime")


def zone_label(zone: ZoneInfo) -> str:
    return str(zone.key).rsplit("/", 1)[-1].replace("_", " ")


def shown_when(
    session: Session,
    couple: Couple,
    moment: datetime,
    *,
    reader: Partner | None = None,
    since: datetime | None = None,
    zone_named: bool = False,
) -> Text:
    """A moment as its readers see it, worded the same for every feature.

    In private the reader's own zone; in the group one time, or each partner's when their
    zones differ ("20:00 for Ana (Berlin), 14:00 for Ben (New York)"). Only the time when
    it falls on the same local day as `since`, otherwise date and time; the zone is named
    when `zone_named` or when the partners' zones differ."""
    readers = [reader] if reader is not None else partners_of(session, couple.id or 0)
    zones = [zone_of(couple, partner) for partner in readers] or [zone_of(couple)]

    def at(zone: ZoneInfo) -> Moment:
        same_day = since is not None and (
            moment.astimezone(zone).date() == since.astimezone(zone).date()
        )
        return Moment(moment, str(zone.key), "time" if same_day else "datetime")

    if len({zone.key for zone in zones}) == 1:
        return Text(
            "time.when_zoned" if zone_named else "time.when",
            {"at": at(zones[0]), "zone": zone_label(zones[0])},
        )
    each = [
        Text(
            "time.when_for", {"at": at(zone), "name": partner.first_name, "zone": zone_label(zone)}
        )
        for partner, zone in zip(readers, zones, strict=True)
    ]
    return Text("time.when_each", {"first": each[0], "second": each[-1]})


def shown_clock(session: Session, couple: Couple, owner: Partner, at: time) -> Text:
    """A time of day in `owner`'s zone, the zone named when the partners' zones differ."""
    zones = {zone_of(couple, partner).key for partner in partners_of(session, couple.id or 0)}
    if len(zones) < 2:
        return Text("time.when", {"at": ClockTime(at)})
    return Text(
        "time.when_zoned", {"at": ClockTime(at), "zone": zone_label(zone_of(couple, owner))}
    )


def guard(session: Session, actor: Actor, now: datetime) -> Membership | list[Any]:
    """The acting partner's membership, or the kind answer for anyone else.

    Returns effects (a list) when the actor cannot act here: nothing has changed.
    """
    from flows.outcome import Button, Send, Text, ToChat

    found = membership(session, actor, now)
    if found is not None and found.couple.formed_at is not None:
        return found
    if actor.in_private:
        add = Button(label=Text("onboarding.button_add_to_group"), url=ADD_TO_GROUP)
        return [
            Send(
                ToChat(actor.chat_id, actor.language),
                Text("common.no_couple_private"),
                buttons=((add,),),
            )
        ]
    couple = couple_for_chat(session, actor.chat_id)
    if couple is None or couple.formed_at is None:
        return [Send(ToChat(actor.chat_id, actor.language), Text("common.no_couple_group"))]
    names = [partner.first_name for partner in partners_of(session, couple.id or 0)]
    return [
        Send(ToChat(actor.chat_id), Text("common.only_partners", {"a": names[0], "b": names[-1]}))
    ]
