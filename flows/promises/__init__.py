"""Small promises: made by one partner to the other, nudged, asked about, kept (`flow.py`)."""

from flows.promises.flow import (
    ANSWER,
    CHANGE,
    DEFAULT_CAP,
    FEATURE,
    MAX_WHAT,
    NOTICED,
    NUDGE_KIND,
    WHEN,
    WORDS_WINDOW,
    Promise,
    PromiseCheck,
    drop,
    follow_through,
    list_promises,
    make_promise,
    press_when,
)

__all__ = [
    "ANSWER",
    "CHANGE",
    "DEFAULT_CAP",
    "FEATURE",
    "MAX_WHAT",
    "NOTICED",
    "NUDGE_KIND",
    "WHEN",
    "WORDS_WINDOW",
    "Promise",
    "PromiseCheck",
    "drop",
    "follow_through",
    "list_promises",
    "make_promise",
    "press_when",
]
