"""Onboarding: the bot joins a group, a couple forms, /help, /settings, /leave.

`flow.py` joining, the private chat, /settings, /leave (and `FEATURE`); `zones.py` the
couple's and each partner's time zone; `hooks.py` what other features give onboarding.
"""

from flows.onboarding.flow import (
    FEATURE,
    INVITE_REMINDER,
    JOIN,
    LEAVE,
    bot_membership,
    deep_link,
    ensure_couple,
    leave,
    migrate_chat,
    press_leave,
    show_help,
    show_settings,
    start,
)
from flows.onboarding.hooks import (
    FormedHooks,
    LeaveHooks,
    SettingsLines,
    ZoneHooks,
    ZoneOwner,
    couple_zone,
)
from flows.onboarding.zones import (
    ZONE,
    ZONE_REMINDER,
    move_local_timers,
    set_my_timezone,
    set_timezone,
    zone_question,
)

__all__ = [
    "FEATURE",
    "INVITE_REMINDER",
    "JOIN",
    "LEAVE",
    "ZONE",
    "ZONE_REMINDER",
    "FormedHooks",
    "LeaveHooks",
    "SettingsLines",
    "ZoneHooks",
    "ZoneOwner",
    "bot_membership",
    "couple_zone",
    "deep_link",
    "ensure_couple",
    "leave",
    "migrate_chat",
    "move_local_timers",
    "press_leave",
    "set_my_timezone",
    "set_timezone",
    "show_help",
    "show_settings",
    "start",
    "zone_question",
]
