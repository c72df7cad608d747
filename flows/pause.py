"""Pause: a break during an argument that comes back at an agreed time.

One partner asks (`/pause 60`); the break starts at once, so whoever is flooded can step
away without waiting for a tap. The other partner agrees to the return time or proposes
another one, which goes back to the first partner to accept. At the return time each
partner is asked once whether they are ready; "I need 20 more minutes" moves the return
while the whole break stays within a day. Both ready: the break ends and /repair is
suggested. Nobody answers within an hour: one gentle line, closed as "not returned".
/back from one partner does not end the break for both: the other is asked whether they
are ready early too. Whoever said "I'm ready" hears privately what happens next (the
other asked for more time, both are back), so nobody waits without news.

Product rules (guide "Pause"; Gottman via the seeds): the body needs about 20 minutes to
settle, so shorter breaks are raised to 20; a break over 24 hours starts to feel like
punishment, so it is refused. A pause is a bridge back, not a chase: the bot asks once per
return time and never names who did not answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Field, Session, SQLModel, col, select

from flows import buttons
from flows.buttons import Press
from flows.couples import (
    Actor,
    Membership,
    guard,
    local_datetime,
    local_time,
    partner_of_user,
    partners_of,
    shown_when,
    zone_of,
)
from flows.feature import Feature
from flows.inputs import Said
from flows.locking import hold
from flows.models import Couple, Partner, utc_column
from flows.outcome import (
    CancelTimers,
    EditOrigin,
    EditTagged,
    Effects,
    Keyboard,
    Length,
    Moment,
    Notice,
    Send,
    SetTimer,
    Text,
    ToChat,
    ToGroup,
    ToPartner,
    keyboard,
    text,
    tidy_tag,
)
from flows.timeparse import parse_length
from flows.timers import Due, TimerKind

MINIMUM = timedelta(minutes=20)
MAXIMUM = timedelta(hours=24)
# Anything longer than this is not a break someone means; it gets the usage line.
ABSURD = timedelta(days=7)
EXTENSION = timedelta(minutes=20)
ANSWER_WINDOW = timedelta(hours=1)
# A break's questions, named so they can be tidied once answered some other way (or moot):
# "is that return time OK?", a counter-proposal, "ready to come back?", "ready early?".
STARTED_STEP, PROPOSED_STEP, READY_STEP, EARLY_STEP = (
    "pause.started",
    "pause.proposed",
    "pause.ready",
    "pause.early",
)
CHOICES_MINUTES = (20, 30, 60, 120)
PROPOSAL_MINUTES = (30, 60, 120, 240)
HISTORY_SIZE = 10
MAX_ARGS = 20
# The same fight keeps coming back: after this many breaks not returned from within
# COUNSEL_WINDOW, each partner hears once, privately, that a counsellor can help.
COUNSEL_AFTER = 3
COUNSEL_WINDOW = timedelta(days=30)

START = "pzs"  # the duration buttons of a bare /pause; target: the couple
PAUSE = "pz"  # everything pressed about one pause; target: the pause
SOFT_RESTART = "sr"  # "a soft restart" under "you're both back" (flows/restart.py)

# Reply tag of the duration question, so a length typed in reply starts the break.
LENGTH_TAG = "pause-length"
RETURN_KIND = "pause.return"
NO_ANSWER_KIND = "pause.no_answer"

# Pause.state while it runs; `ended` once it is over (see Pause.outcome).
WAITING = "waiting"  # asked, the other partner has not agreed yet
PROPOSED = "proposed"  # the other partner proposed another return time
AGREED = "agreed"
ASKING = "asking"  # "ready to come back?" has been asked
ENDED = "ended"
RUNNING = (WAITING, PROPOSED, AGREED, ASKING)

# Pause.outcome: how it ended, as /pauses tells it.
ON_TIME = "on_time"
LATER = "later"
EARLY = "early"
NOT_RETURNED = "not_returned"
OFFLINE = "offline"  # the return fell due while Mend was down for too long
CLOSED = "closed"  # a partner left Mend during the break


class Pause(SQLModel, table=True):
    """One break: who asked, when it started, and the return time the couple keeps."""

    id: int | None = Field(default=None, primary_key=True)
    couple_id: int = Field(foreign_key="couple.id", index=True)
    # Set to couple_id while the pause runs, NULL once it ended: the unique index makes
    # "one active pause per couple" hold even when both partners send /pause at once.
    active_couple_id: int | None = Field(default=None, unique=True)
    asked_by: int
    other_id: int
    started_at: datetime = utc_column()
    # The return time agreed (or asked, until someone agrees), before any extension.
    agreed_return_at: datetime = utc_column()
    # The return time in force now: the agreed one plus extensions.
    return_at: datetime = utc_column()
    proposed_return_at: datetime | None = utc_column(nullable=True)
    agreed_at: datetime | None = utc_column(nullable=True)
    state: str = WAITING
    asker_ready: bool = False
    other_ready: bool = False
    extensions: int = 0
    ended_at: datetime | None = utc_column(nullable=True)
    ended_by: int | None = None
    outcome: str | None = None
    # The counselling pointer went out with this break's close (at most once a month).
    counsel_offered: bool = False


# ---- reading ------------------------------------------------------------------------


def active_pause(session: Session, couple_id: int) -> Pause | None:
    return session.exec(select(Pause).where(Pause.active_couple_id == couple_id)).first()


def couple_is_pausing(session: Session, couple_id: int, now: datetime) -> bool:
    """Promise nudges and other reminders stay quiet while the couple is in a break."""
    return active_pause(session, couple_id) is not None


def _clock(
    moment: datetime, reader: Partner | None, couple: Couple, since: datetime | None
) -> Moment:
    """ "19:00" when on the same local day as `since`; with the date otherwise (or always)."""
    zone = zone_of(couple, reader)
    if since is not None and moment.astimezone(zone).date() == since.astimezone(zone).date():
        return local_time(moment, zone)
    return local_datetime(moment, zone)


def shown_time(
    session: Session,
    couple: Couple,
    moment: datetime,
    since: datetime | None,
    reader: Partner | None = None,
) -> Text:
    """A time as its reader sees it: a partner's own zone in private; in the group one time,
    or each partner's when their zones differ."""
    return shown_when(session, couple, moment, reader=reader, since=since)


def _length(span: timedelta) -> Length:
    return Length(round(span.total_seconds() / 60))


def _name(session: Session, partner_id: int | None) -> str:
    partner = session.get(Partner, partner_id) if partner_id is not None else None
    return partner.first_name if partner is not None else "?"


def _ref(pause: Pause) -> str:
    return f"pause:{pause.id}"


# ---- starting -----------------------------------------------------------------------


def pause(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/pause [length]: start a break with a return time, or show the one that is on."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    reply = ToChat(actor.chat_id)
    running = active_pause(session, found.couple_id)
    if running is not None:
        return [Send(reply, _state_of(session, found.couple, running, now))]
    if not args.strip():
        return [_choose(found.couple_id, reply)]
    length = parse_length(args, found.partner.language)
    if length is None or length <= timedelta() or length > ABSURD:
        # The buttons, not a syntax lesson: someone asking for a break is upset already.
        return [_choose(found.couple_id, reply, text("pause.choose_unclear"))]
    if length > MAXIMUM:
        return [Send(reply, text("pause.too_long", given=_length(length)))]
    return [*_start(session, found, length, now), *_told_from_private(actor)]


def duration_buttons(couple_id: int) -> Keyboard:
    """20 / 30 / 60 / 120 minutes: whoever taps one asks for the break (group or private)."""
    return keyboard(
        [
            buttons.button(
                text("time.length", length=_length(timedelta(minutes=m))), START, couple_id, str(m)
            )
            for m in CHOICES_MINUTES
        ]
    )


def _told_from_private(actor: Actor) -> Effects:
    """A break asked for in private is still announced in the group; the asker hears so."""
    if not actor.in_private:
        return []
    return [Send(ToChat(actor.chat_id), text("pause.started_from_private"))]


def _choose(couple_id: int, reply: ToChat, body: Text | None = None) -> Send:
    """How long? 20 / 30 / 60 / 120 min, or a length given in reply to this message."""
    return Send(
        reply,
        body or text("pause.choose"),
        buttons=duration_buttons(couple_id),
        tag=f"{LENGTH_TAG}:{couple_id}",
    )


def length_answer(session: Session, actor: Actor, said: Said, now: datetime) -> Effects | None:
    """ "45" (or "45 minutes") in reply to "How long a break?": the same as /pause 45."""
    kind, _, target = (said.reply_to_tag or "").partition(":")
    if kind != LENGTH_TAG or not target.isdigit() or not said.is_reply:
        return None
    couple = session.get(Couple, int(target))
    if couple is None or couple.group_chat_id != actor.chat_id:
        return None
    return pause(session, actor, said.text, now)


def press_start(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """A duration button under a bare /pause: whoever taps it is the one asking."""
    couple = session.get(Couple, press.target_id)
    if (
        couple is None
        or couple.formed_at is None
        or not (actor.in_private or couple.group_chat_id == actor.chat_id)
    ):
        return buttons.expired()
    partner = partner_of_user(session, couple.id or 0, actor.user_id)
    if not press.action.isdigit() or int(press.action) not in CHOICES_MINUTES:
        return buttons.expired()
    if partner is None:
        return buttons.expired() if actor.in_private else [Notice(text("pause.not_yours"))]
    if active_pause(session, couple.id or 0) is not None:
        return [EditOrigin(buttons=()), Notice(text("pause.already_on_notice"))]
    found = Membership(couple, partner)
    started = _start(session, found, timedelta(minutes=int(press.action)), now)
    if actor.in_private:
        return [EditOrigin(body=text("pause.started_from_private")), *started]
    return [EditOrigin(buttons=()), *started]


def _start(session: Session, found: Membership, length: timedelta, now: datetime) -> Effects:
    partners = partners_of(session, found.couple_id)
    other = next(p for p in partners if p.id != found.partner_id)
    raised = length < MINIMUM
    length = max(length, MINIMUM)
    return_at = now + length
    row = Pause(
        couple_id=found.couple_id,
        active_couple_id=found.couple_id,
        asked_by=found.partner_id,
        other_id=other.id or 0,
        started_at=now,
        agreed_return_at=return_at,
        return_at=return_at,
    )
    session.add(row)
    session.flush()
    when = shown_time(session, found.couple, return_at, now)
    lines: list[Text] = []
    if raised:
        lines.append(text("pause.raised"))
    lines.append(
        text("pause.asked", name=found.partner.first_name, length=_length(length), when=when)
    )
    lines.append(text("pause.coming_back", name=found.partner.first_name))
    lines.append(text("pause.use_the_time"))
    lines.append(text("pause.ask_other", other=other.first_name))
    agree = buttons.button(text("pause.button_agree"), PAUSE, row.id or 0, "ok")
    alternatives = [
        buttons.button(
            text(
                "pause.button_propose",
                time=_clock(row.started_at + timedelta(minutes=m), other, found.couple, now),
            ),
            PAUSE,
            row.id or 0,
            f"p{m}",
        )
        for m in PROPOSAL_MINUTES
        if timedelta(minutes=m) != length
    ][:3]
    return [
        Send(
            ToGroup(found.couple_id),
            text("pause.started", lines=tuple(lines)),
            buttons=keyboard([agree], alternatives),
            tag=tidy_tag(STARTED_STEP, row.id or 0),
        ),
        SetTimer(RETURN_KIND, found.couple_id, return_at, {"pause_id": row.id}, ref=_ref(row)),
    ]


# ---- agreeing -----------------------------------------------------------------------


def _pressed_pause(
    session: Session, actor: Actor, press: Press
) -> tuple[Pause, Couple, Partner] | None:
    """The pause a button names, if the presser is one of its couple, pressing in its chats."""
    row = session.get(Pause, press.target_id)
    if row is None:
        return None
    couple = session.get(Couple, row.couple_id)
    if couple is None:
        return None
    partner = partner_of_user(session, row.couple_id, actor.user_id)
    if partner is None:
        return None
    if not actor.in_private and actor.chat_id != couple.group_chat_id:
        return None
    return row, couple, partner


def press_pause(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """Agree, propose, accept a proposal, or answer "ready to come back?"."""
    found = _pressed_pause(session, actor, press)
    if found is None:
        return buttons.expired()
    row, couple, partner = found
    action = press.action
    if action == "ok":
        return _agree(session, row, couple, partner, now)
    if action.startswith("p") and action[1:].isdigit():
        return _propose(session, row, couple, partner, int(action[1:]), now)
    if action == "acc":
        return _accept(session, row, couple, partner, now)
    if action == "ready":
        return _ready(session, row, couple, partner, now)
    if action == "more":
        return _more(session, row, couple, partner, now)
    if action in ("early", "notyet"):
        return _answer_early(session, row, couple, partner, action == "early", now)
    return buttons.expired()


def _agree(
    session: Session, row: Pause, couple: Couple, partner: Partner, now: datetime
) -> Effects:
    if row.state != WAITING:
        return buttons.expired()
    if partner.id != row.other_id:
        return [Notice(text("pause.agree_is_for_other", other=_name(session, row.other_id)))]
    return _settled(session, row, couple, partner, now)


def _settled(
    session: Session, row: Pause, couple: Couple, partner: Partner, now: datetime
) -> Effects:
    """The return time is agreed: the buttons go, and the group hears when."""
    row.state = AGREED
    row.agreed_at = now
    session.add(row)
    return [
        Notice(text("pause.agreed_notice")),
        # The question is answered: one line of what was agreed, without buttons.
        EditOrigin(
            body=text(
                "pause.settled_line",
                name=_name(session, row.asked_by),
                when=shown_time(session, couple, row.return_at, now),
            )
        ),
        Send(
            ToGroup(couple.id or 0),
            text(
                "pause.agreed",
                name=partner.first_name,
                when=shown_time(session, couple, row.return_at, now),
            ),
        ),
    ]


def _propose(
    session: Session, row: Pause, couple: Couple, partner: Partner, minutes: int, now: datetime
) -> Effects:
    if row.state != WAITING or minutes not in PROPOSAL_MINUTES:
        return buttons.expired()
    if partner.id != row.other_id:
        return [Notice(text("pause.agree_is_for_other", other=_name(session, row.other_id)))]
    proposed = row.started_at + timedelta(minutes=minutes)
    if proposed <= now:
        return [Notice(text("pause.proposal_passed"))]
    row.state = PROPOSED
    row.proposed_return_at = proposed
    session.add(row)
    asker = session.get(Partner, row.asked_by)
    accept = buttons.button(
        text("pause.button_accept", time=_clock(proposed, asker, couple, now)),
        PAUSE,
        row.id or 0,
        "acc",
    )
    return [
        Notice(text("pause.proposed_notice")),
        EditOrigin(buttons=()),
        Send(
            ToGroup(couple.id or 0),
            text(
                "pause.proposed",
                name=partner.first_name,
                asker=_name(session, row.asked_by),
                when=shown_time(session, couple, proposed, now),
                kept=shown_time(session, couple, row.return_at, now),
            ),
            buttons=keyboard([accept]),
            tag=tidy_tag(PROPOSED_STEP, row.id or 0),
        ),
    ]


def _accept(
    session: Session, row: Pause, couple: Couple, partner: Partner, now: datetime
) -> Effects:
    if row.state != PROPOSED or row.proposed_return_at is None:
        return buttons.expired()
    if partner.id != row.asked_by:
        return [Notice(text("pause.accept_is_for_asker", asker=_name(session, row.asked_by)))]
    if row.proposed_return_at <= now:
        return [Notice(text("pause.proposal_passed"))]
    row.return_at = row.agreed_return_at = row.proposed_return_at
    row.proposed_return_at = None
    return [
        CancelTimers(couple.id or 0, ref=_ref(row)),
        SetTimer(RETURN_KIND, couple.id or 0, row.return_at, {"pause_id": row.id}, ref=_ref(row)),
        *_settled(session, row, couple, partner, now),
    ]


# ---- coming back --------------------------------------------------------------------


def _is_ready(row: Pause, partner_id: int) -> bool:
    return row.asker_ready if partner_id == row.asked_by else row.other_ready


def _ready_buttons(row: Pause) -> Keyboard:
    return keyboard(
        [buttons.button(text("pause.button_ready"), PAUSE, row.id or 0, "ready")],
        [buttons.button(text("pause.button_more"), PAUSE, row.id or 0, "more")],
    )


def _close_missed(session: Session, due: Due) -> Effects:
    """The return fell due while Mend was down far too long: close it, say so, blame no one."""
    row = session.get(Pause, due.payload.get("pause_id"))
    if row is None or row.state not in RUNNING or row.return_at != due.due_at:
        return []
    couple = session.get(Couple, row.couple_id)
    tidy = _tidy_at_end(session, row, couple, due.now) if couple is not None else []
    _end(row, OFFLINE, None, due.now)
    session.add(row)
    return [*tidy, Send(ToGroup(row.couple_id), text("pause.closed_offline"))]


def return_time(session: Session, due: Due) -> Effects:
    """The return time: each partner who is not ready yet is asked, once."""
    row = session.get(Pause, due.payload.get("pause_id"))
    if row is None or row.state not in RUNNING or row.return_at != due.due_at:
        return []
    couple = session.get(Couple, row.couple_id)
    if couple is None:
        return []
    # "Is that return time OK?" no longer needs an answer once the time has come.
    effects: Effects = _moot_questions(session, row, couple, due.now)
    row.state = ASKING
    session.add(row)
    for partner_id in (row.asked_by, row.other_id):
        if _is_ready(row, partner_id):
            continue
        partner = session.get(Partner, partner_id)
        effects.append(
            Send(
                ToPartner(partner_id),
                text("pause.ready_question", time=_clock(row.return_at, partner, couple, due.now)),
                buttons=_ready_buttons(row),
                tag=tidy_tag(READY_STEP, row.id or 0, partner_id),
            )
        )
    effects.append(
        SetTimer(
            NO_ANSWER_KIND,
            row.couple_id,
            row.return_at + ANSWER_WINDOW,
            {"pause_id": row.id, "return_at": row.return_at.isoformat()},
            ref=_ref(row),
        )
    )
    return effects


def _ready(
    session: Session, row: Pause, couple: Couple, partner: Partner, now: datetime
) -> Effects:
    # Both may press at the same moment: decide on the row as the other press left it.
    row = hold(session, row)
    if row.state != ASKING:
        return buttons.expired()
    if _is_ready(row, partner.id or 0):
        return [Notice(text("pause.ready_already"))]
    # Read before this tap changes the row: "ready early?" may still be open from /back.
    tidy = _tidy_at_end(session, row, couple, now)
    if partner.id == row.asked_by:
        row.asker_ready = True
    else:
        row.other_ready = True
    session.add(row)
    if not (row.asker_ready and row.other_ready):
        return [
            Notice(text("pause.ready_notice")),
            EditOrigin(
                body=text("pause.ready_waiting", other=_name(session, _other_of(row, partner))),
                buttons=(),
            ),
        ]
    _end(row, LATER if row.extensions else ON_TIME, partner.id, now)
    return [
        Notice(text("pause.ready_notice")),
        EditOrigin(body=text("pause.ready_done"), buttons=()),
        *tidy,
        CancelTimers(couple.id or 0, ref=_ref(row)),
        Send(ToGroup(couple.id or 0), text("pause.both_back"), buttons=_soft_restart(row)),
        _tell_the_one_waiting(row, partner),
    ]


def _soft_restart(row: Pause) -> Keyboard:
    """Optional: one feeling and one need each, shown together (flows/restart.py)."""
    return keyboard(
        [buttons.button(text("pause.button_soft_restart"), SOFT_RESTART, row.id or 0, "go")]
    )


def _other_of(row: Pause, partner: Partner) -> int:
    return row.other_id if partner.id == row.asked_by else row.asked_by


def _tell_the_one_waiting(row: Pause, partner: Partner) -> Send:
    """The partner who was ready first hears privately that the other is back too."""
    return Send(
        ToPartner(_other_of(row, partner)), text("pause.both_back_private", name=partner.first_name)
    )


def _more(session: Session, row: Pause, couple: Couple, partner: Partner, now: datetime) -> Effects:
    if row.state != ASKING:
        return buttons.expired()
    new_return = max(now, row.return_at) + EXTENSION
    if new_return - row.started_at > MAXIMUM:
        return [
            Notice(
                text("pause.more_refused", other=_name(session, _other_of(row, partner))),
                alert=True,
            )
        ]
    waiting: Effects = []
    if not _is_ready(row, _other_of(row, partner)):
        # Their "ready?" is asked again at the new time; this one no longer counts.
        other_id = _other_of(row, partner)
        waiting.append(EditTagged(ToPartner(other_id), tidy_tag(READY_STEP, row.id or 0, other_id)))
    if partner.id == row.asked_by:
        row.asker_ready = False
    else:
        row.other_ready = False
    row.return_at = new_return
    row.extensions += 1
    row.state = AGREED
    session.add(row)
    if _is_ready(row, _other_of(row, partner)):
        other = session.get(Partner, _other_of(row, partner))
        waiting.append(
            Send(
                ToPartner(_other_of(row, partner)),
                text(
                    "pause.more_told_ready",
                    name=partner.first_name,
                    time=_clock(new_return, other, couple, now),
                ),
            )
        )
    return [
        *waiting,
        Notice(text("pause.more_notice")),
        EditOrigin(
            body=text("pause.more_private", time=_clock(new_return, partner, couple, now)),
            buttons=(),
        ),
        CancelTimers(couple.id or 0, ref=_ref(row)),
        SetTimer(RETURN_KIND, couple.id or 0, new_return, {"pause_id": row.id}, ref=_ref(row)),
        Send(
            ToGroup(couple.id or 0),
            text(
                "pause.more_group",
                name=partner.first_name,
                when=shown_time(session, couple, new_return, now),
            ),
        ),
    ]


def no_answer(session: Session, due: Due) -> Effects:
    """An hour after the return time with no way back yet: one gentle line, then closed."""
    row = session.get(Pause, due.payload.get("pause_id"))
    if row is None or row.state != ASKING:
        return []
    # An extension moved the return time after this close was set: it no longer applies.
    if datetime.fromisoformat(str(due.payload.get("return_at"))) != row.return_at:
        return []
    couple = session.get(Couple, row.couple_id)
    tidy = _tidy_at_end(session, row, couple, due.now) if couple is not None else []
    _end(row, NOT_RETURNED, None, due.now)
    session.add(row)
    return [
        *tidy,
        Send(ToGroup(row.couple_id), text("pause.not_returned")),
        *_counsel_once_a_month(session, row, due.now),
    ]


def _counsel_once_a_month(session: Session, row: Pause, now: datetime) -> Effects:
    """The third break in a month nobody came back from: a private word about counselling.

    The repeated pattern is the signal (the seeds), and a counsellor is the kind answer to
    a fight that keeps coming back. Said privately to each, never in the group, at most
    once in any 30 days.
    """
    recent = list(
        session.exec(
            select(Pause).where(
                Pause.couple_id == row.couple_id, col(Pause.started_at) >= now - COUNSEL_WINDOW
            )
        )
    )
    not_returned = [item for item in recent if item.outcome == NOT_RETURNED]
    offered = session.exec(
        select(Pause).where(
            Pause.couple_id == row.couple_id,
            col(Pause.counsel_offered),
            col(Pause.ended_at) >= now - COUNSEL_WINDOW,
        )
    ).first()
    if len(not_returned) < COUNSEL_AFTER or offered is not None:
        return []
    row.counsel_offered = True
    session.add(row)
    return [
        Send(ToPartner(partner_id), text("pause.counsel"))
        for partner_id in (row.asked_by, row.other_id)
    ]


def _moot_questions(session: Session, row: Pause, couple: Couple, now: datetime) -> Effects:
    """ "Is that return time OK?" (and a counter-proposal) still waiting for a tap when the
    return time comes or the break ends: one line of the return time, without buttons."""
    line = text(
        "pause.asked_line",
        name=_name(session, row.asked_by),
        when=shown_time(session, couple, row.return_at, now),
    )
    effects: Effects = []
    if row.agreed_at is None:
        effects.append(
            EditTagged(ToGroup(couple.id or 0), tidy_tag(STARTED_STEP, row.id or 0), line)
        )
    if row.proposed_return_at is not None:
        effects.append(
            EditTagged(ToGroup(couple.id or 0), tidy_tag(PROPOSED_STEP, row.id or 0), line)
        )
    return effects


def _tidy_at_end(session: Session, row: Pause, couple: Couple, now: datetime) -> Effects:
    """The break ends: every question of it still showing buttons loses them (called before
    `_end`, while the row still says which were open)."""
    effects = _moot_questions(session, row, couple, now)
    for partner_id in (row.asked_by, row.other_id):
        if row.state == ASKING and not _is_ready(row, partner_id):
            effects.append(
                EditTagged(ToPartner(partner_id), tidy_tag(READY_STEP, row.id or 0, partner_id))
            )
    if row.asker_ready != row.other_ready:  # "{name} is ready early. Are you?" may be open
        effects.append(EditTagged(ToGroup(couple.id or 0), tidy_tag(EARLY_STEP, row.id or 0)))
    return effects


def _end(row: Pause, outcome: str, by: int | None, now: datetime) -> None:
    row.state = ENDED
    row.outcome = outcome
    row.ended_at = now
    row.ended_by = by
    row.active_couple_id = None
    row.proposed_return_at = None


def back(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/back: one partner is ready early. The break ends only when the other is too, so
    the one who needed it is never pulled back by the other's tap."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    reply = ToChat(actor.chat_id)
    row = active_pause(session, found.couple_id)
    if row is None:
        return [Send(reply, text("pause.none_on"))]
    partner = found.partner
    other_id = _other_of(row, partner)
    if _is_ready(row, other_id):
        return _both_back_early(session, row, found.couple, partner, now)
    if _is_ready(row, partner.id or 0):
        return [Send(reply, text("pause.back_already_asked", other=_name(session, other_id)))]
    _set_ready(row, partner.id or 0, True)
    session.add(row)
    question = keyboard(
        [buttons.button(text("pause.button_ready"), PAUSE, row.id or 0, "early")],
        [buttons.button(text("pause.button_not_yet"), PAUSE, row.id or 0, "notyet")],
    )
    effects: Effects = [
        Send(
            ToGroup(found.couple_id),
            text("pause.back_asks_other", name=partner.first_name, other=_name(session, other_id)),
            buttons=question,
            tag=tidy_tag(EARLY_STEP, row.id or 0),
        )
    ]
    if actor.in_private:
        effects.append(
            Send(reply, text("pause.back_asked_private", other=_name(session, other_id)))
        )
    return effects


def _set_ready(row: Pause, partner_id: int, ready: bool) -> None:
    if partner_id == row.asked_by:
        row.asker_ready = ready
    else:
        row.other_ready = ready


def _answer_early(
    session: Session, row: Pause, couple: Couple, partner: Partner, ready: bool, now: datetime
) -> Effects:
    """The other's answer to "{name} is ready early. Are you?"."""
    if row.state == ENDED:
        return buttons.expired()
    other_id = _other_of(row, partner)
    if not _is_ready(row, other_id) or _is_ready(row, partner.id or 0):
        # Only the one who was asked answers; the one who asked waits.
        return [Notice(text("pause.early_is_for_other", other=_name(session, other_id)))]
    if ready:
        return [EditOrigin(buttons=()), *_both_back_early(session, row, couple, partner, now)]
    when = shown_time(session, couple, row.return_at, now)
    waiting = session.get(Partner, other_id)
    return [
        Notice(text("pause.not_yet_notice")),
        EditOrigin(buttons=()),
        Send(ToGroup(couple.id or 0), text("pause.not_yet", name=partner.first_name, when=when)),
        Send(
            ToPartner(other_id),
            text(
                "pause.not_yet_private",
                name=partner.first_name,
                time=_clock(row.return_at, waiting, couple, now),
            ),
        ),
    ]


def _both_back_early(
    session: Session, row: Pause, couple: Couple, partner: Partner, now: datetime
) -> Effects:
    before_return = now < row.return_at and row.state != ASKING
    tidy = _tidy_at_end(session, row, couple, now)
    _end(row, EARLY if before_return else (LATER if row.extensions else ON_TIME), partner.id, now)
    session.add(row)
    return [
        *tidy,
        CancelTimers(couple.id or 0, ref=_ref(row)),
        Send(
            ToGroup(couple.id or 0),
            text("pause.back", name=partner.first_name),
            buttons=_soft_restart(row),
        ),
        _tell_the_one_waiting(row, partner),
    ]


# ---- showing ------------------------------------------------------------------------


def _state_of(session: Session, couple: Couple, row: Pause, now: datetime) -> Text:
    when = shown_time(session, couple, row.return_at, now)
    asker = _name(session, row.asked_by)
    if row.state == WAITING:
        status = text("pause.status_waiting", other=_name(session, row.other_id))
    elif row.state == PROPOSED and row.proposed_return_at is not None:
        status = text(
            "pause.status_proposed",
            asker=asker,
            when=shown_time(session, couple, row.proposed_return_at, now),
        )
    elif row.state == ASKING:
        status = text("pause.status_asking")
    else:
        status = text("pause.status_agreed")
    return text("pause.state", asker=asker, when=when, status=status)


OUTCOME_KEYS = {
    ON_TIME: "pause.outcome_on_time",
    LATER: "pause.outcome_later",
    EARLY: "pause.outcome_early",
    NOT_RETURNED: "pause.outcome_not_returned",
    OFFLINE: "pause.outcome_offline",
    CLOSED: "pause.outcome_closed",
}


def history(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/pauses: the recent breaks, when, who asked, the agreed return, how each ended."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    couple = found.couple
    query = (
        select(Pause)
        .where(Pause.couple_id == found.couple_id)
        .order_by(col(Pause.started_at).desc(), col(Pause.id).desc())
        .limit(HISTORY_SIZE)
    )
    rows = list(session.exec(query))
    reply = ToChat(actor.chat_id)
    if not rows:
        return [Send(reply, text("pause.history_empty"))]
    reader = found.partner if actor.in_private else None
    lines: list[Text] = []
    for row in rows:
        started = shown_time(session, couple, row.started_at, None, reader)
        when = shown_time(session, couple, row.agreed_return_at, row.started_at, reader)
        ended = (
            text(OUTCOME_KEYS.get(row.outcome or "", "pause.outcome_closed"))
            if row.state == ENDED
            else text("pause.outcome_running")
        )
        lines.append(
            text(
                "pause.history_line",
                started=started,
                asker=_name(session, row.asked_by),
                when=when,
                ended=ended,
            )
        )
    return [Send(reply, text("pause.history", lines=tuple(lines)))]


def _settings(session: Session, couple: Couple, reader: Partner) -> list[Text]:
    row = active_pause(session, couple.id or 0)
    if row is None:
        return []
    return [
        text("pause.settings_on", when=shown_time(session, couple, row.return_at, row.started_at))
    ]


def _on_leave(session: Session, couple: Couple, partner: Partner, now: datetime) -> Effects:
    row = active_pause(session, couple.id or 0)
    if row is None:
        return []
    _end(row, CLOSED, partner.id, now)
    session.add(row)
    return [CancelTimers(couple.id or 0, ref=_ref(row))]


FEATURE = Feature(
    name="pause",
    commands={"pause": pause, "back": back, "pauses": history},
    buttons={START: press_start, PAUSE: press_pause},
    timers=(
        TimerKind(
            RETURN_KIND, return_time, useful_for=timedelta(hours=12), on_missed=_close_missed
        ),
        TimerKind(NO_ANSWER_KIND, no_answer, useful_for=timedelta(days=30)),
    ),
    on_text=(length_answer,),
    on_leave=(_on_leave,),
    settings_lines=(_settings,),
    # While a pause is on, nothing nudges the couple.
    quiet_checks=(couple_is_pausing,),
)
