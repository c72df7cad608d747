"""One feature, one place: everything a flow module provides, named in its `FEATURE`.

Each feature module ends with one `FEATURE = Feature(...)` listing its commands, button
kinds, timer kinds, text handlers and the hooks other features call. `flows/features.py`
lists every feature once, in order; `Registry.build` turns that list into the lookups
the shared handlers use (`buttons.handle_press`, `timers.handle_due`,
`inputs.handle_text`, `hooks`, onboarding's hooks) and refuses, naming both features,
two features that claim the same command, button kind or timer kind. Nothing is
registered by importing a module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlmodel import Session

    from flows.buttons import ButtonHandler
    from flows.couples import Actor
    from flows.hooks import CheckinsLine, PromiseOffer, QuietCheck
    from flows.inputs import InputHandler
    from flows.onboarding.hooks import (
        FormedHooks,
        LeaveHooks,
        SettingsLines,
        ZoneHooks,
        ZoneOwner,
    )
    from flows.outcome import Effects, Text
    from flows.timers import TimerKind

    # A plain /command: (session, who and where, the rest of the line, now) -> effects.
    CommandFlow = Callable[[Session, Actor, str, datetime], Effects]


@dataclass(frozen=True)
class Feature:
    """What one feature provides. Every field but `name` is optional."""

    name: str
    # /command name -> flow. Commands whose Telegram handler needs more than "who, where,
    # the rest of the line" (/start, /promise) are wired in bot/app.py instead.
    commands: Mapping[str, CommandFlow] = field(default_factory=dict)
    # Button kind -> what a press does (see flows/buttons.py).
    buttons: Mapping[str, ButtonHandler] = field(default_factory=dict)
    # Of those, the kinds anyone in the group may press (not only the couple).
    open_buttons: frozenset[str] = frozenset()
    # What each timer kind does when due, and how late is too late (flows/timers.py).
    timers: Sequence[TimerKind] = ()
    # Timer kinds that stand for a local wall-clock time: kind -> whose zone they follow
    # (the partner id from the payload, or None for the couple's zone).
    local_time_timers: Mapping[str, ZoneOwner] = field(default_factory=dict)
    # Free-text handlers, asked in order; the first that returns effects takes the text.
    on_text: Sequence[InputHandler] = ()
    # What is said when no feature took the text (one feature, onboarding, says it).
    unplaced_text: InputHandler | None = None
    # Hooks onboarding calls: a partner leaves, a couple forms, the zone changes.
    on_leave: Sequence[LeaveHooks] = ()
    # Extra buttons on the /leave question: action -> (label, what it does besides leaving).
    leave_choices: Mapping[str, tuple[Text, LeaveHooks]] = field(default_factory=dict)
    on_formed: Sequence[FormedHooks] = ()
    on_zone_change: Sequence[ZoneHooks] = ()
    # Lines this feature adds to /settings.
    settings_lines: Sequence[SettingsLines] = ()
    # While any says True, the couple is not nudged (a pause).
    quiet_checks: Sequence[QuietCheck] = ()
    # Turns what someone would promise into a promise (the promises feature).
    promise_offer: PromiseOffer | None = None
    # Lines /checkins shows below the streak.
    checkins_lines: Sequence[CheckinsLine] = ()


class DuplicateClaim(ValueError):
    """Two features claim the same command, button kind, timer kind or single hook (the
    promise offer, unplaced text), or a feature lists a kind it does not handle."""


@dataclass(frozen=True)
class Registry:
    """Every feature's parts, merged: built once at start-up from the explicit list."""

    features: tuple[Feature, ...]
    commands: Mapping[str, CommandFlow]
    buttons: Mapping[str, ButtonHandler]
    open_buttons: frozenset[str]
    timers: Mapping[str, TimerKind]
    local_time_timers: Mapping[str, ZoneOwner]
    # Every feature's text handlers in list order, then the one for unplaced text.
    on_text: tuple[InputHandler, ...]
    on_leave: tuple[LeaveHooks, ...]
    leave_choices: Mapping[str, tuple[Text, LeaveHooks]]
    on_formed: tuple[FormedHooks, ...]
    on_zone_change: tuple[ZoneHooks, ...]
    settings_lines: tuple[SettingsLines, ...]
    quiet_checks: tuple[QuietCheck, ...]
    promise_offer: PromiseOffer | None
    checkins_lines: tuple[CheckinsLine, ...]

    @classmethod
    def build(cls, features: Sequence[Feature]) -> Registry:
        """Merge `features`; raises `DuplicateClaim` naming both features on a clash."""
        _claim("feature", [(f.name, f) for f in features])
        commands = _claim("command", [(n, f) for f in features for n in f.commands])
        buttons = _claim("button kind", [(k, f) for f in features for k in f.buttons])
        timers = _claim("timer kind", [(t.name, f) for f in features for t in f.timers])
        choices = _claim("leave choice", [(a, f) for f in features for a in f.leave_choices])
        _claim(
            "unplaced-text handler",
            [("unplaced text", f) for f in features if f.unplaced_text is not None],
        )
        _claim(
            "promise offer", [("promise offer", f) for f in features if f.promise_offer is not None]
        )
        for f in features:
            for kind in f.open_buttons:
                if kind not in f.buttons:
                    raise DuplicateClaim(
                        f"feature {f.name!r} opens button kind {kind!r} that it does not handle"
                    )
            for kind in f.local_time_timers:
                if timers.get(kind) is not f:
                    raise DuplicateClaim(
                        f"feature {f.name!r} lists local-time timer kind "
                        f"{kind!r} that it does not handle"
                    )
        del commands, buttons, timers, choices
        offers = [f.promise_offer for f in features if f.promise_offer is not None]
        return cls(
            features=tuple(features),
            commands={n: flow for f in features for n, flow in f.commands.items()},
            buttons={k: press for f in features for k, press in f.buttons.items()},
            open_buttons=frozenset(k for f in features for k in f.open_buttons),
            timers={t.name: t for f in features for t in f.timers},
            local_time_timers={k: o for f in features for k, o in f.local_time_timers.items()},
            on_text=(
                *(h for f in features for h in f.on_text),
                *(f.unplaced_text for f in features if f.unplaced_text is not None),
            ),
            on_leave=tuple(h for f in features for h in f.on_leave),
            leave_choices={a: c for f in features for a, c in f.leave_choices.items()},
            on_formed=tuple(h for f in features for h in f.on_formed),
            on_zone_change=tuple(h for f in features for h in f.on_zone_change),
            settings_lines=tuple(h for f in features for h in f.settings_lines),
            quiet_checks=tuple(h for f in features for h in f.quiet_checks),
            promise_offer=offers[0] if offers else None,
            checkins_lines=tuple(h for f in features for h in f.checkins_lines),
        )


def _claim(what: str, claims: Sequence[tuple[str, Feature]]) -> dict[str, Feature]:
    owners: dict[str, Feature] = {}
    for key, feature in claims:
        first = owners.get(key)
        if first is not None:
            raise DuplicateClaim(
                f"{what} {key!r} is claimed by both feature {first.name!r} "
                f"and feature {feature.name!r}"
            )
        owners[key] = feature
    return owners


class _Installed:
    registry: Registry | None = None


_installed = _Installed()


def install(registry: Registry) -> None:
    """Make `registry` the one the shared handlers read (done by `load_all()`)."""
    _installed.registry = registry


def installed() -> Registry:
    if _installed.registry is None:
        raise RuntimeError("no features are loaded: call flows.features.load_all() first")
    return _installed.registry


@contextmanager
def replaced(**changes: Any) -> Iterator[Registry]:
    """For tests: the installed registry with some parts replaced, while inside."""
    saved = installed()
    install(replace(saved, **changes))
    try:
        yield installed()
    finally:
        install(saved)
