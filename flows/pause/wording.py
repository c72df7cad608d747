"""What the pause says: its messages and buttons, built as catalogue keys and values."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from flows import buttons
from flows.couples import shown_when
from flows.models import Couple, Partner
from flows.outcome import Keyboard, Length, Send, Text, ToChat, keyboard, text
from flows.pause.model import LENGTH_TAG, PAUSE, SOFT_RESTART, START, Outcome, Pause, PauseState
from flows.pause.rules import CHOICES_MINUTES, proposals


def length(span: timedelta) -> Length:
    return Length(round(span.total_seconds() / 60))


def name(session: Session, partner_id: int | None) -> str:
    partner = session.get(Partner, partner_id) if partner_id is not None else None
    return partner.first_name if partner is not None else "?"


def duration_buttons(couple_id: int) -> Keyboard:
    """20 / 30 / 60 / 120 minutes: whoever taps one asks for the break (group or private)."""
    return keyboard(
        [
            buttons.button(
                text("time.length", length=length(timedelta(minutes=m))), START, couple_id, str(m)
            )
            for m in CHOICES_MINUTES
        ]
    )


def choose(couple_id: int, reply: ToChat, body: Text | None = None) -> Send:
    """How long? 20 / 30 / 60 / 120 min, or a length given in reply to this message."""
    return Send(
        reply,
        body or text("pause.choose"),
        buttons=duration_buttons(couple_id),
        tag=f"{LENGTH_TAG}:{couple_id}",
    )


def started(
    session: Session,
    couple: Couple,
    row: Pause,
    asker: Partner,
    other: Partner,
    asked: timedelta,
    raised: bool,
    now: datetime,
) -> tuple[Text, Keyboard]:
    """The group's word that a break started, and the other's agree / propose buttons."""
    when = shown_when(session, couple, row.return_at, since=now)
    lines: list[Text] = []
    if raised:
        lines.append(text("pause.raised"))
    lines.append(text("pause.asked", name=asker.first_name, length=length(asked), when=when))
    lines.append(text("pause.coming_back", name=asker.first_name))
    lines.append(text("pause.use_the_time"))
    lines.append(text("pause.ask_other", other=other.first_name))
    agree = buttons.button(text("pause.button_agree"), PAUSE, row.id or 0, "ok")
    alternatives = [
        buttons.button(
            text(
                "pause.button_propose",
                time=shown_when(
                    session,
                    couple,
                    row.started_at + timedelta(minutes=m),
                    reader=other,
                    since=now,
                ),
            ),
            PAUSE,
            row.id or 0,
            f"p{m}",
        )
        for m in proposals(asked)
    ]
    return text("pause.started", lines=tuple(lines)), keyboard([agree], alternatives)


def ready_buttons(row: Pause) -> Keyboard:
    return keyboard(
        [buttons.button(text("pause.button_ready"), PAUSE, row.id or 0, "ready")],
        [buttons.button(text("pause.button_more"), PAUSE, row.id or 0, "more")],
    )


def early_buttons(row: Pause) -> Keyboard:
    """Under "{name} is ready early. Are you?"."""
    return keyboard(
        [buttons.button(text("pause.button_ready"), PAUSE, row.id or 0, "early")],
        [buttons.button(text("pause.button_not_yet"), PAUSE, row.id or 0, "notyet")],
    )


def soft_restart(row: Pause) -> Keyboard:
    """Optional: one feeling and one need each, shown together (flows/restart.py)."""
    return keyboard(
        [buttons.button(text("pause.button_soft_restart"), SOFT_RESTART, row.id or 0, "go")]
    )


def state_of(session: Session, couple: Couple, row: Pause, now: datetime) -> Text:
    when = shown_when(session, couple, row.return_at, since=now)
    asker = name(session, row.asked_by)
    if row.state == PauseState.WAITING:
        status = text("pause.status_waiting", other=name(session, row.other_id))
    elif row.state == PauseState.PROPOSED and row.proposed_return_at is not None:
        status = text(
            "pause.status_proposed",
            asker=asker,
            when=shown_when(session, couple, row.proposed_return_at, since=now),
        )
    elif row.state == PauseState.ASKING:
        status = text("pause.status_asking")
    else:
        status = text("pause.status_agreed")
    return text("pause.state", asker=asker, when=when, status=status)


OUTCOME_KEYS: dict[str, str] = {
    Outcome.ON_TIME: "pause.outcome_on_time",
    Outcome.LATER: "pause.outcome_later",
    Outcome.EARLY: "pause.outcome_early",
    Outcome.NOT_RETURNED: "pause.outcome_not_returned",
    Outcome.OFFLINE: "pause.outcome_offline",
    Outcome.CLOSED: "pause.outcome_closed",
}


def history_line(session: Session, couple: Couple, row: Pause, reader: Partner | None) -> Text:
    """One break in /pauses: when, who asked, the agreed return, how it ended."""
    started_at = shown_when(session, couple, row.started_at, reader=reader)
    when = shown_when(session, couple, row.agreed_return_at, reader=reader, since=row.started_at)
    ended = (
        text(OUTCOME_KEYS.get(row.outcome or "", "pause.outcome_closed"))
        if row.state == PauseState.ENDED
        else text("pause.outcome_running")
    )
    return text(
        "pause.history_line",
        started=started_at,
        asker=name(session, row.asked_by),
        when=when,
        ended=ended,
    )
