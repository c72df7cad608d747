"""Small promises: made by one partner to the other, nudged, asked about, kept, noticed.

`model.py` the tables and states, `schedule.py` the calendar of a promise (pure),
`wording.py` what it says, `flow.py` making one (and `FEATURE`), `daily.py` the nudge and
"kept?", `changing.py` new words, a new "when", /drop.
"""

from flows.promises.changing import drop
from flows.promises.flow import FEATURE, list_promises, make_promise, press_when
from flows.promises.model import (
    ANSWER,
    ASK_KIND,
    CHANGE,
    DEFAULT_CAP,
    MAX_WHAT,
    NOTICED,
    NUDGE_KIND,
    WHEN,
    WHEN_STEP,
    WORDS_WINDOW,
    CheckOutcome,
    FollowThrough,
    Promise,
    PromiseCheck,
    PromiseState,
    follow_through,
)

__all__ = [
    "ANSWER",
    "ASK_KIND",
    "CHANGE",
    "DEFAULT_CAP",
    "FEATURE",
    "MAX_WHAT",
    "NOTICED",
    "NUDGE_KIND",
    "WHEN",
    "WHEN_STEP",
    "WORDS_WINDOW",
    "CheckOutcome",
    "FollowThrough",
    "Promise",
    "PromiseCheck",
    "PromiseState",
    "drop",
    "follow_through",
    "list_promises",
    "make_promise",
    "press_when",
]
