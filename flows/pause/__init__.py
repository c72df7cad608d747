"""Pause: a break during an argument that comes back at an agreed time.

`model.py` the table and its states, `rules.py` the rules of time (pure), `wording.py`
what it says, `flow.py` asking and agreeing (and `FEATURE`), `coming_back.py` the return.
"""

from flows.pause.coming_back import back
from flows.pause.flow import FEATURE, history, pause
from flows.pause.model import (
    LENGTH_TAG,
    NO_ANSWER_KIND,
    PAUSE,
    RETURN_KIND,
    SOFT_RESTART,
    START,
    Outcome,
    Pause,
    PauseState,
    active_pause,
    couple_is_pausing,
)
from flows.pause.rules import CHOICES_MINUTES
from flows.pause.wording import duration_buttons

__all__ = [
    "CHOICES_MINUTES",
    "FEATURE",
    "LENGTH_TAG",
    "NO_ANSWER_KIND",
    "PAUSE",
    "RETURN_KIND",
    "SOFT_RESTART",
    "START",
    "Outcome",
    "Pause",
    "PauseState",
    "active_pause",
    "back",
    "couple_is_pausing",
    "duration_buttons",
    "history",
    "pause",
]
