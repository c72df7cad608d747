"""Properties of the parsers and of recurrence, over many generated inputs (hypothesis).

Bounded so the whole module runs in seconds: a fixed number of examples, no deadline (the
machine is shared), and derandomized so a failure is the same failure on the next run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session

from bot.db import make_engine, migrate
from flows import buttons, couples, promises, timeparse
from flows.outcome import SetTimer
from flows.recurrence import next_weekly
from tests.helpers import ANA_ID, in_group, make_couple

FAST = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@cache
def offered_zones() -> list[str]:
    """Every zone the bot accepts from `/timezone`: the IANA names `parse_zone` takes."""
    return sorted(name for name in available_timezones() if couples.parse_zone(name) == name)


zones = st.sampled_from(offered_zones())
# hypothesis takes naive bounds and adds the zone itself (timezones=).
EARLIEST = datetime(2025, 1, 1)  # noqa: DTZ001
LATEST = datetime(2035, 12, 31)  # noqa: DTZ001
moments = st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.just(UTC))
clock_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45, 59]))
# Most zones change their clocks on a Sunday night, between midnight and 03:00: drawn often,
# or a few dozen examples would hardly ever land in a gap or in an hour that happens twice.
change_times = st.sampled_from([time(0, 30), time(1, 30), time(2, 0), time(2, 30), time(3, 0)])


def _exists(moment: datetime, zone: ZoneInfo) -> bool:
    """Whether this local wall-clock time happens at all that day (not in a spring gap)."""
    return moment.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(
        tzinfo=None
    ) == moment.replace(tzinfo=None)


# ---- parsing never raises -----------------------------------------------------------------


@FAST
@given(st.text(max_size=120))
def test_no_parser_raises_on_any_text(raw: str) -> None:
    timeparse.parse_promise(raw)
    timeparse.parse_promise(raw, "de")
    timeparse.parse_length(raw)
    timeparse.parse_weekly(raw)
    couples.parse_zone(raw)
    buttons.parse(raw)


@FAST
@given(
    st.lists(
        st.sampled_from(
            [
                "call",
                "mum",
                "at",
                "7",
                "7pm",
                "19:30",
                "12.45",
                "noon",
                "every",
                "day",
                "daily",
                "weekdays",
                "mon",
                "to",
                "fri",
                "friday",
                "by",
                "tomorrow",
                "tonight",
                "in",
                "3",
                "days",
                "next",
                "week",
                "weekend",
                "the",
                "evening",
                "morning",
                "soon",
                "99",
                "0",
                "25:61",
                "am",
                "p.m.",
                ",",
                "(",
                ")",
                "!",
                "on",
                "sunday",
                "h",
                "1h30",
                "90m",
                "-",
            ]
        ),
        max_size=10,
    ).map(" ".join)
)
def test_promise_and_pause_parsers_read_phrases_without_raising(raw: str) -> None:
    parsed = timeparse.parse_promise(raw)
    assert raw.count(parsed.what) >= 1 or parsed.what == ""
    length = timeparse.parse_length(raw)
    assert length is None or length >= timedelta(0)
    found = timeparse.parse_weekly(raw)
    assert found is None or (0 <= found.weekday <= 6)


# ---- a time read from what someone typed is never in the past ----------------------------


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('props') / 'mend.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@FAST
@given(
    when=st.sampled_from(
        [
            "",
            "daily",
            "every weekday",
            "weekly",
            "tomorrow",
            "tonight",
            "by Friday",
            "in 3 days",
            "next week",
            "this weekend",
            "at 7pm",
            "at 6am",
            "tomorrow at 8am",
            "daily at 23:30",
            "by Sunday at 9pm",
            "tonight at 5pm",
            "every day at 12.15",
        ]
    ),
    now=moments,
    zone=zones,
)
def test_a_promise_is_never_scheduled_in_the_past(
    database: Engine, when: str, now: datetime, zone: str
) -> None:
    with Session(database) as session:
        make_couple(session, now=now, zone=zone)
        effects = promises.make_promise(
            session, in_group(ANA_ID, "Ana"), f"call my mum {when}", now
        )
        due = [effect.due_at for effect in effects if isinstance(effect, SetTimer)]
        session.rollback()
    assert all(moment > now for moment in due), (when, now, zone, due)


@FAST
@given(
    raw=st.sampled_from(
        [
            "sun 19:00",
            "sunday 7pm",
            "wed 20:30",
            "mon 0:00",
            "sat 23:59",
            "fri 2.30am",
            "tue 12pm",
            "thu 12am",
        ]
    ),
    now=moments,
    zone=zones,
)
def test_a_check_in_time_is_never_in_the_past_and_on_its_day(
    raw: str, now: datetime, zone: str
) -> None:
    found = timeparse.parse_weekly(raw)
    assert found is not None and found.at is not None
    weekday, at = found.weekday, found.at
    due = next_weekly(now, weekday, at, ZoneInfo(zone))
    assert now < due <= now + timedelta(days=7, hours=3)
    assert due.astimezone(ZoneInfo(zone)).weekday() == weekday


@FAST
@given(raw=st.from_regex(r"\d{1,4}( ?m| ?min|h| ?hours?|h\d{2}|:\d{2})?", fullmatch=True))
def test_a_pause_length_is_never_negative(raw: str) -> None:
    length = timeparse.parse_length(raw)
    assert length is None or length >= timedelta(0)


# ---- weekly recurrence keeps the wall-clock time across daylight saving -------------------


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    zone=zones,
    weekday=st.one_of(st.just(6), st.integers(0, 6)),
    at=st.one_of(change_times, clock_times),
    start=moments,
)
@example(zone="Europe/Berlin", weekday=6, at=time(2, 30), start=datetime(2026, 1, 1, tzinfo=UTC))
@example(zone="America/New_York", weekday=6, at=time(1, 30), start=datetime(2026, 1, 1, tzinfo=UTC))
@example(
    zone="Australia/Lord_Howe", weekday=6, at=time(2, 15), start=datetime(2026, 1, 1, tzinfo=UTC)
)
def test_weekly_keeps_its_local_time_for_a_year_in_every_zone(
    zone: str, weekday: int, at: time, start: datetime
) -> None:
    tz = ZoneInfo(zone)
    moment = start
    for _week in range(54):  # a year: both daylight-saving changes wherever there are any
        following = next_weekly(moment, weekday, at, tz)
        local = following.astimezone(tz)
        assert following > moment and local.weekday() == weekday
        wanted = datetime.combine(local.date(), at)
        first = wanted.replace(tzinfo=tz, fold=0)
        if not _exists(wanted, tz):  # in a spring-forward gap: moved forward by the gap
            assert local.time() > at and local.date() == wanted.date(), (zone, local)
        else:  # the agreed time; where it happens twice (autumn), the first time
            assert local.time() == at, (zone, local)
            assert following == first.astimezone(UTC), (zone, local)
        moment = following
