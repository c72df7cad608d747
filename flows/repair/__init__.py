"""/repair: an apology written step by step, and answered.

`model.py` the table and its states, `hint.py` the ownership hint (pure), `wording.py`
what the author sees, `flow.py` starting, writing and posting (and `FEATURE`),
`receiving.py` the receiver's one-tap answer.
"""

from flows.repair.flow import FEATURE, answer, start_repair
from flows.repair.hint import explains_before_owning, says_sorry
from flows.repair.model import (
    ANSWER,
    ANSWERS,
    CHOOSE,
    KIND,
    MAX_ANSWER,
    TAG,
    Repair,
    RepairState,
    active_repair,
)
from flows.repair.wording import composed

__all__ = [
    "ANSWER",
    "ANSWERS",
    "CHOOSE",
    "FEATURE",
    "KIND",
    "MAX_ANSWER",
    "TAG",
    "Repair",
    "RepairState",
    "active_repair",
    "answer",
    "composed",
    "explains_before_owning",
    "says_sorry",
    "start_repair",
]
