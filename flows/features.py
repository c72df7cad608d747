"""Every feature, listed once: the bot is built from this list and nothing else.

`load_all()` builds the `Registry` from `FEATURES` (refusing two features that claim the
same command, button kind or timer kind) and installs it for the shared handlers.

The order is deliberate where order matters:

- Text handlers are asked in this order and the first that answers takes the text.
  Most only take a reply to their own question (its tag), so they cannot clash; the
  ones that also take text typed in private without a tag check their own open
  question first. Onboarding comes first (the city asked for a time zone), then the
  features in the order a couple meets them (pause, check-in, promises, hurt before
  repair: a hurt note is written before the repair that answers it, thanks, the soft
  restart). Onboarding's `unplaced_text` ("this is not an answer to anything") is
  always asked last, whatever the order here.
- Leave hooks, /settings lines and /checkins lines run and show in this order.
"""

from __future__ import annotations

from flows import (
    checkin,
    choosing,
    data_rights,
    hurt,
    language,
    members,
    models,
    onboarding,
    pause,
    promises,
    repair,
    restart,
    safety,
    thanks,
)
from flows.feature import Feature, Registry, install

# The tables of flows/models.py (imported for SQLModel's metadata; not a feature).
TABLES = models

FEATURES: tuple[Feature, ...] = (
    onboarding.FEATURE,
    members.FEATURE,
    pause.FEATURE,
    checkin.FEATURE,
    promises.FEATURE,
    hurt.FEATURE,
    repair.FEATURE,
    thanks.FEATURE,
    restart.FEATURE,
    safety.FEATURE,
    data_rights.FEATURE,
    language.FEATURE,
    choosing.FEATURE,
)


def load_all() -> Registry:
    """Build the registry from `FEATURES` and install it (idempotent)."""
    registry = Registry.build(FEATURES)
    install(registry)
    return registry
