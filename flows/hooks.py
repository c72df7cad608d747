"""Where one feature asks another without importing it.

A pause quiets promise nudges; a check-in or repair answer can become a promise.
The feature that knows the answer names it in its `FEATURE` (quiet checks, the promise
offer, /checkins lines); these read the registry built from every feature, so features
stay in their own files and can be built and tested on their own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from flows.feature import installed
from flows.models import Partner
from flows.outcome import Effects, Text

# (session, couple_id, now) -> True while the couple should not be nudged (a pause).
QuietCheck = Callable[[Session, int, datetime], bool]

# (session, promiser, what they would promise, now) -> effects that start making it.
PromiseOffer = Callable[[Session, Partner, str, datetime], Effects]

# (session, couple_id, now) -> lines /checkins shows below the streak (the couple's, never
# one partner's: nothing there compares the two).
CheckinsLine = Callable[[Session, int, datetime], list[Text]]


def checkins_lines(session: Session, couple_id: int, now: datetime) -> tuple[Text, ...]:
    return tuple(
        found for line in installed().checkins_lines for found in line(session, couple_id, now)
    )


def is_quiet(session: Session, couple_id: int, now: datetime) -> bool:
    return any(check(session, couple_id, now) for check in installed().quiet_checks)


def promises_available() -> bool:
    return installed().promise_offer is not None


def offer_promise(session: Session, partner: Partner, what: str, now: datetime) -> Effects:
    """Start turning `what` into a promise (the promises feature asks when, with buttons)."""
    offer = installed().promise_offer
    if offer is None:
        return []
    return offer(session, partner, what, now)
