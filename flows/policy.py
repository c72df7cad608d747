"""The settings the rules depend on, as one typed object.

The shell builds it once from the environment (`bot/config.py`) and hands the flows the
values they need; no flow reads a setting by name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    # A new couple's zone until they choose one (DEFAULT_TIMEZONE, an IANA name).
    default_timezone: str
    # How many promises a partner may have open at once (PROMISE_CAP).
    promise_cap: int
