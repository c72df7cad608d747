"""Every feature module, imported once so its tables and timer kinds are registered."""

from __future__ import annotations

import importlib

FEATURE_MODULES = (
    "flows.models",
    "flows.onboarding",
    "flows.members",
    "flows.pause",
    "flows.checkin",
    "flows.promises",
    "flows.repair",
    "flows.thanks",
    "flows.restart",
    "flows.safety",
    "flows.data_rights",
    "flows.language",
    "flows.choosing",
)


def load_all() -> None:
    for name in FEATURE_MODULES:
        importlib.import_module(name)
