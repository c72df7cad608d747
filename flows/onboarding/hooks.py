"""The hooks other features give onboarding in their `FEATURE` (see flows/feature.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session

from flows.models import Couple, Partner
from flows.outcome import Effects, Text

# The lines they add to /settings: (session, couple, reader) -> texts.
SettingsLines = Callable[[Session, Couple, Partner], list[Text]]

# What they do when a partner leaves (cancel their rituals, keep history); other ways to
# leave as extra buttons on the /leave question, e.g. "leave and delete my private
# answers": action -> (button label, what it does besides leaving).
LeaveHooks = Callable[[Session, Couple, Partner, datetime], Effects]

# What they set up when a couple forms (e.g. the weekly check-in schedule).
FormedHooks = Callable[[Session, Couple, datetime], Effects]

# What they re-plan when the couple's time zone changes (local-time schedules).
ZoneHooks = Callable[[Session, Couple, datetime], Effects]

# Timer kinds that stand for a local wall-clock time ("19:00 on Sunday"), with whose zone
# they follow: payload -> the partner id, or None for the couple's zone. When that zone
# changes they move to the same local time in the new zone. Durations ("back in an hour",
# "close after 48 hours") are not listed: they stay the moment they were agreed to be.
ZoneOwner = Callable[[Session, Mapping[str, Any]], int | None]


def couple_zone(_session: Session, _payload: Mapping[str, Any]) -> int | None:
    """A local-time timer that follows the couple's zone (no partner's own)."""
    return None
