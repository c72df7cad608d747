"""The feature list: every feature is loaded, and two features cannot claim the same thing."""

from __future__ import annotations

import importlib
import pkgutil
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session

import flows
from flows.buttons import Press
from flows.couples import Actor
from flows.feature import DuplicateClaim, Feature, Registry, installed
from flows.features import FEATURES, load_all
from flows.outcome import Effects
from flows.timers import Due, TimerKind


def _press(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    return []


def _due(session: Session, due: Due) -> Effects:
    return []


def _command(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    return []


def test_two_features_with_the_same_button_kind_are_refused_naming_both() -> None:
    first = Feature(name="knitting", buttons={"kn": _press})
    second = Feature(name="knotting", buttons={"kn": _press})
    with pytest.raises(DuplicateClaim) as refused:
        Registry.build([first, second])
    message = str(refused.value)
    assert "'kn'" in message and "'knitting'" in message and "'knotting'" in message


def test_two_features_with_the_same_timer_kind_or_command_are_refused() -> None:
    timer = TimerKind("x.due", _due, useful_for=timedelta(hours=1))
    with pytest.raises(DuplicateClaim, match=r"timer kind 'x.due'.*'a'.*'b'"):
        Registry.build([Feature(name="a", timers=(timer,)), Feature(name="b", timers=(timer,))])
    with pytest.raises(DuplicateClaim, match=r"command 'go'.*'a'.*'b'"):
        Registry.build(
            [
                Feature(name="a", commands={"go": _command}),
                Feature(name="b", commands={"go": _command}),
            ]
        )


def test_a_feature_may_not_clash_with_a_real_one() -> None:
    clash = Feature(name="impostor", buttons={"pz": _press})
    with pytest.raises(DuplicateClaim, match=r"'pause'.*'impostor'"):
        Registry.build([*FEATURES, clash])


def test_every_feature_module_is_in_the_list_and_loaded() -> None:
    modules = [
        importlib.import_module(f"flows.{info.name}")
        for info in pkgutil.iter_modules(flows.__path__)
    ]
    declared = [module.FEATURE for module in modules if hasattr(module, "FEATURE")]
    assert set(map(id, declared)) == set(map(id, FEATURES))
    registry = load_all()
    assert registry is installed()
    assert [feature.name for feature in registry.features] == [f.name for f in FEATURES]
    for feature in FEATURES:
        assert all(registry.buttons[kind] is press for kind, press in feature.buttons.items())
        assert all(registry.timers[kind.name] is kind for kind in feature.timers)
        assert all(registry.commands[name] is flow for name, flow in feature.commands.items())


def test_text_handlers_keep_the_list_order_and_unplaced_text_comes_last() -> None:
    registry = installed()
    expected = [handler for feature in FEATURES for handler in feature.on_text]
    assert list(registry.on_text[:-1]) == expected
    assert registry.on_text[-1].__name__ == "unplaced"
