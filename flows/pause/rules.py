"""The pause's rules of time, as plain functions: no database, no Telegram.

Product rules (guide "Pause"; Gottman via the seeds): the body needs about 20 minutes to
settle, so shorter breaks are raised to 20; a break over 24 hours starts to feel like
punishment, so it is refused, and "20 more minutes" may not carry it past a day either.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from flows.pause.model import Outcome

MINIMUM = timedelta(minutes=20)
MAXIMUM = timedelta(hours=24)
# Anything longer than this is not a break someone means; it gets the usage line.
ABSURD = timedelta(days=7)
EXTENSION = timedelta(minutes=20)
ANSWER_WINDOW = timedelta(hours=1)
CHOICES_MINUTES = (20, 30, 60, 120)
PROPOSAL_MINUTES = (30, 60, 120, 240)
HISTORY_SIZE = 10
MAX_ARGS = 20
# The same fight keeps coming back: after this many breaks not returned from within
# COUNSEL_WINDOW, each partner hears once, privately, that a counsellor can help.
COUNSEL_AFTER = 3
COUNSEL_WINDOW = timedelta(days=30)


def is_unclear(length: timedelta) -> bool:
    """Not a length anyone means: zero or less, or longer than a week."""
    return length <= timedelta() or length > ABSURD


def proposals(length: timedelta) -> list[int]:
    """The other partner's three alternatives, in minutes: never the length already asked."""
    return [m for m in PROPOSAL_MINUTES if timedelta(minutes=m) != length][:3]


def extended_return(started_at: datetime, return_at: datetime, now: datetime) -> datetime | None:
    """The return time after "20 more minutes", or None when the break would pass a day."""
    new_return = max(now, return_at) + EXTENSION
    if new_return - started_at > MAXIMUM:
        return None
    return new_return


def outcome_on_return(extensions: int) -> Outcome:
    """Both back at (or after) the return time: on time, or later when it was extended."""
    return Outcome.LATER if extensions else Outcome.ON_TIME


def counsel_due(outcomes: Sequence[str | None], offered_recently: bool) -> bool:
    """The counselling word: after COUNSEL_AFTER breaks not returned from in the window,
    unless it was already offered in that window."""
    not_returned = [outcome for outcome in outcomes if outcome == Outcome.NOT_RETURNED]
    return len(not_returned) >= COUNSEL_AFTER and not offered_recently
