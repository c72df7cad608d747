"""The weekly check-in: four short questions each, answered apart, shown together.

`model.py` the tables and states, `schedule.py` the calendar (pure), `wording.py` what it
says, `flow.py` /checkin, /checkins and `FEATURE`, `asking.py` the questions and answers,
`closing.py` showing them together, `due.py` its timers.
"""

from flows.checkin.asking import answer_text, record_answer, start_checkin
from flows.checkin.flow import FEATURE, checkin, ensure_schedule, history, streak
from flows.checkin.model import (
    ANSWERABLE,
    CARE,
    CLOSE_KIND,
    DIFFERENTLY,
    KIND_CHECKIN,
    KIND_MENU,
    KIND_PROMISE,
    KIND_QUESTION,
    KIND_SHARE,
    KIND_TIME,
    MAX_ANSWER,
    QUESTIONS,
    REMIND,
    RESUME,
    SHARED,
    START,
    Checkin,
    CheckinAnswer,
    CheckinSchedule,
    CheckinState,
    CheckinTurn,
    PromiseWish,
    schedule_of,
)
from flows.checkin.schedule import MORNING, NIGHT_FROM, QUIET_RETRY, reminder_time

__all__ = [
    "ANSWERABLE",
    "CARE",
    "CLOSE_KIND",
    "DIFFERENTLY",
    "FEATURE",
    "KIND_CHECKIN",
    "KIND_MENU",
    "KIND_PROMISE",
    "KIND_QUESTION",
    "KIND_SHARE",
    "KIND_TIME",
    "MAX_ANSWER",
    "MORNING",
    "NIGHT_FROM",
    "QUESTIONS",
    "QUIET_RETRY",
    "REMIND",
    "RESUME",
    "SHARED",
    "START",
    "Checkin",
    "CheckinAnswer",
    "CheckinSchedule",
    "CheckinState",
    "CheckinTurn",
    "PromiseWish",
    "answer_text",
    "checkin",
    "ensure_schedule",
    "history",
    "record_answer",
    "reminder_time",
    "schedule_of",
    "start_checkin",
    "streak",
]
