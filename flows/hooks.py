"""Where one feature asks another without importing it.

A pause quiets promise nudges; a check-in or repair answer can become a promise.
The feature that knows the answer registers itself here at import time, so features
stay in their own files and can be built and tested on their own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from flows.models import Partner
from flows.outcome import Effects, Text

# (session, couple_id, now) -> True while the couple should not be nudged (a pause).
QuietCheck = Callable[[Session, int, datetime], bool]
QUIET_CHECKS: list[QuietCheck] = []

# (session, promiser, what they would promise, now) -> effects that start making it.
PromiseOffer = Callable[[Session, Partner, str, datetime], Effects]


class _Offers:
    offer: PromiseOffer | None = None


_offers = _Offers()


# (session, couple_id, now) -> lines /checkins shows below the streak (the couple's, never
# one partner's: nothing there compares the two).
CheckinsLine = Callable[[Session, int, datetime], list[Text]]
CHECKINS_LINES: list[CheckinsLine] = []


def checkins_line(line: CheckinsLine) -> CheckinsLine:
    CHECKINS_LINES.append(line)
    return line


def checkins_lines(session: Session, couple_id: int, now: datetime) -> tuple[Text, ...]:
    return tuple(found for line in CHECKINS_LINES for found in line(session, couple_id, now))


def is_quiet(session: Session, couple_id: int, now: datetime) -> bool:
    return any(check(session, couple_id, now) for check in QUIET_CHECKS)


def quiet_check(check: QuietCheck) -> QuietCheck:
    QUIET_CHECKS.append(check)
    return check


def register_promise_offer(offer: PromiseOffer) -> PromiseOffer:
    _offers.offer = offer
    return offer


def promises_available() -> bool:
    return _offers.offer is not None


def offer_promise(session: Session, partner: Partner, what: str, now: datetime) -> Effects:
    """Start turning `what` into a promise (the promises feature asks when, with buttons)."""
    if _offers.offer is None:
        return []
    return _offers.offer(session, partner, what, now)
