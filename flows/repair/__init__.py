"""/repair: an apology written step by step, and answered (see `flow.py`)."""

from flows.repair.flow import (
    FEATURE,
    KIND,
    MAX_ANSWER,
    Repair,
    answer,
    composed,
    explains_before_owning,
    says_sorry,
    start_repair,
)

__all__ = [
    "FEATURE",
    "KIND",
    "MAX_ANSWER",
    "Repair",
    "answer",
    "composed",
    "explains_before_owning",
    "says_sorry",
    "start_repair",
]
