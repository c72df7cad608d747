"""The heartbeat a running bot writes, and what `mend check --running` reads.

Each sweep (every 30 seconds) stamps one row per host. A health check in the same
container or on the same machine reads its own host's row, so with several processes on
one PostgreSQL each host's check speaks for its own bot, not for whichever is alive.
Under systemd (`Type=notify`, `WatchdogSec=`; contrib/mend.service) each stamp also tells
systemd the bot is ready and alive, so a bot whose sweep stops is restarted.
The stamp is wall-clock time, never the bot's `Clock`: the demo and the tests move that
clock forward, and liveness is about the real minutes since the sweep last ran.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col

from flows.models import Heartbeat

log = logging.getLogger(__name__)

# `mend check --running` fails when the newest beat is older than this: four sweeps missed.
STALE_AFTER = timedelta(minutes=2)
# A sweep also runs on every timer wake-up; one stamp in this long is enough.
BEAT_EVERY = timedelta(seconds=10)
# Rows of hosts that are gone (a re-created container has a new name) are dropped after this.
FORGET_HOST_AFTER = timedelta(days=7)


def this_host() -> str:
    return socket.gethostname() or "localhost"


def wall_clock() -> datetime:
    return datetime.now(UTC)


def write_heartbeat(engine: Engine, host: str | None = None, at: datetime | None = None) -> bool:
    """Stamp this host's row; a failed stamp is logged and returns False, never raises."""
    host = host or this_host()
    at = at or wall_clock()
    try:
        with Session(engine) as session:
            stamped = session.execute(
                update(Heartbeat).where(col(Heartbeat.host) == host).values(beat_at=at)
            )
            if not stamped.rowcount:  # type: ignore[attr-defined]
                session.add(Heartbeat(host=host, beat_at=at))
            session.execute(
                delete(Heartbeat).where(col(Heartbeat.beat_at) < at - FORGET_HOST_AFTER)
            )
            session.commit()
    except IntegrityError:
        # Another process on this host inserted the row a moment ago: its beat counts.
        return True
    except SQLAlchemyError:
        log.warning("could not write the heartbeat", exc_info=True)
        return False
    return True


def notify_systemd(state: str) -> None:
    """sd_notify(3) without a dependency: one datagram to $NOTIFY_SOCKET, if systemd set it."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError:
        log.warning("could not notify systemd", exc_info=True)


class HeartbeatWriter:
    """What a runtime's sweep calls: stamps at most once every `BEAT_EVERY`."""

    def __init__(self, engine: Engine, host: str | None = None) -> None:
        self.engine = engine
        self.host = host or this_host()
        self.last: datetime | None = None

    def beat(self) -> None:
        now = wall_clock()
        if self.last is not None and now - self.last < BEAT_EVERY:
            return
        self.last = now
        if write_heartbeat(self.engine, self.host, now):
            # READY once the first sweep has run (systemd then runs ExecStartPost), and
            # WATCHDOG on every stamp: no stamp for WatchdogSec and systemd restarts the bot.
            notify_systemd("READY=1\nWATCHDOG=1")


def last_heartbeat(engine: Engine, host: str | None = None) -> datetime | None:
    with Session(engine) as session:
        row = session.get(Heartbeat, host or this_host())
        return row.beat_at if row is not None else None
