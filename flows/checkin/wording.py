"""What the check-in says: its schedule, the opening, the menu and the answer buttons."""

from __future__ import annotations

from datetime import time

from flows import buttons
from flows.checkin.model import (
    KIND_CHECKIN,
    KIND_MENU,
    KIND_QUESTION,
    QUESTIONS,
    Checkin,
    CheckinSchedule,
    opening_tag,
    question_tag,
)
from flows.outcome import (
    ClockTime,
    EditTagged,
    Keyboard,
    Send,
    Text,
    ToGroup,
    ToPartner,
    keyboard,
    text,
)


def menu(couple_id: int, schedule: CheckinSchedule) -> Keyboard:
    switch = "off" if schedule.active else "on"
    return keyboard(
        [
            buttons.button(text("checkin.button_start_now"), KIND_MENU, couple_id, "now"),
            buttons.button(text("checkin.button_move"), KIND_MENU, couple_id, "move"),
            buttons.button(text(f"checkin.button_{switch}"), KIND_MENU, couple_id, switch),
        ]
    )


def opening(checkin_row: Checkin, *, can_snooze: bool) -> Send:
    row = [
        buttons.button(text("checkin.button_skip_week"), KIND_CHECKIN, checkin_row.id or 0, "skip")
    ]
    if can_snooze:
        row.insert(
            0,
            buttons.button(
                text("checkin.button_snooze"), KIND_CHECKIN, checkin_row.id or 0, "snooze"
            ),
        )
    key = "checkin.opening" if can_snooze else "checkin.opening_again"
    return Send(
        ToGroup(checkin_row.couple_id),
        text(key),
        buttons=keyboard(row),
        tag=opening_tag(checkin_row),
    )


def retire_question(checkin_row: Checkin, partner_id: int, question: int) -> EditTagged:
    """A question answered some other way than its "Skip" button (typed, or asked again
    below): the button goes from the message."""
    return EditTagged(ToPartner(partner_id), question_tag(checkin_row, partner_id, question))


def edit_buttons(checkin_row: Checkin) -> Keyboard:
    return keyboard(
        [
            buttons.button(
                text("checkin.button_change", number=number),
                KIND_QUESTION,
                checkin_row.id or 0,
                f"edit{number}",
            )
            for number in QUESTIONS
        ]
    )


def schedule_text(schedule: CheckinSchedule) -> Text:
    return text(
        "checkin.schedule",
        day=text(f"checkin.days_{schedule.weekday}"),
        at=ClockTime(time.fromisoformat(schedule.at)),
    )
