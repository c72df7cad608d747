"""Benchmark 4: two bot processes, one PostgreSQL, webhook mode.

Both processes run `python -m bot` in webhook mode (each its own port; the sandbox delivers
updates to the last webhook set, which is fine: this is about timers, shared through the
database). They share the fan-out of benchmark 3: every due timer is claimed by exactly one
of them (`FOR UPDATE SKIP LOCKED`), every outbox row sent by one of them.

Second run: one process is killed with SIGKILL when half the messages are out. Checked:
every due timer is delivered; a group gets a message twice only inside the documented
window (the killed process had the message accepted by Telegram but not yet marked sent:
those rows are listed at the moment of the kill); the survivor finishes the killed
process's claimed timers and messages once they are older than the claim timeout
(shortened with MEND_CLAIM_TIMEOUT_SECONDS, default here 10 s instead of 2 / 5 minutes).

    python -m bench.two_processes                       # 10,000 couples, both runs
    python -m bench.two_processes --couples 3000 --runs kill --claim-timeout 10
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections import Counter
from typing import Any

from sqlalchemy import Engine, bindparam, text

from bench.common import BotProcess, machine, quiet_sandbox_logs, table, workdir
from bench.fanout import Plan, report, run_fanout
from sandbox import BotApiSandbox


def kill_one(bots: list[BotProcess], engine: Engine, sandbox: BotApiSandbox) -> dict[str, Any]:
    """SIGKILL the second process and, before anything else runs, list its unfinished work."""
    victim = bots[-1]
    assert victim.process is not None
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    # Synchronous on purpose: the sandbox shares this event loop, so nothing is sent or
    # accepted between the kill and this snapshot.
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, chat_id FROM outbox WHERE state = 'sending'")
        ).all()
        sending = [int(chat) for _id, chat in rows]
        timer_ids = [
            int(i)
            for (i,) in connection.execute(text("SELECT id FROM timer WHERE state = 'claimed'"))
        ]
        claimed = len(timer_ids)
    sent_to = Counter(record.chat_id for record in sandbox.sent_log)
    by_chat = Counter(sending)
    # A chat whose "sending" rows are fewer than what it got may see them again.
    accepted = {chat for chat in by_chat if sent_to.get(chat, 0) > 0}
    return {
        "killed": victim.name,
        "timers_claimed_at_kill": claimed,
        "messages_sending_at_kill": len(sending),
        "accepted_not_marked_at_kill": len(accepted),
        "in_flight_chats": accepted,
        "stranded": ([int(i) for i, _chat in rows], timer_ids, bots[0].clock.now()),
    }


def stranded_done_after(engine: Engine, stranded: Any) -> float | None:
    """Seconds from the kill until the last of the killed process's claimed timers and
    messages was finished by the survivor (in the bots' clock)."""
    outbox_ids, timer_ids, killed_at = stranded
    moments = []
    with engine.connect() as connection:
        if outbox_ids:
            moments.append(
                connection.execute(
                    text("SELECT max(sent_at) FROM outbox WHERE id IN :ids").bindparams(
                        bindparam("ids", expanding=True)
                    ),
                    {"ids": outbox_ids},
                ).scalar()
            )
        if timer_ids:
            moments.append(
                connection.execute(
                    text("SELECT max(finished_at) FROM timer WHERE id IN :ids").bindparams(
                        bindparam("ids", expanding=True)
                    ),
                    {"ids": timer_ids},
                ).scalar()
            )
    found = [m for m in moments if m is not None]
    if not found:
        return None
    return (max(found) - killed_at.replace(tzinfo=None)).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--couples", type=int, default=10_000)
    parser.add_argument("--runs", nargs="+", default=["share", "kill"], choices=["share", "kill"])
    parser.add_argument(
        "--limited", action="store_true", help="keep the rate limiter on (each process has its own)"
    )
    parser.add_argument("--claim-timeout", type=float, default=10.0)
    parser.add_argument("--kill-at", type=float, default=0.5)
    args = parser.parse_args()
    quiet_sandbox_logs()
    where = workdir("two")
    print(f"machine: {machine()}")
    print(
        f"{args.couples:,} couples, 2 processes in webhook mode on PostgreSQL, limiter "
        f"{'on' if args.limited else 'off'}, claim timeout {args.claim_timeout:g} s; "
        f"logs in {where}\n"
    )
    outcomes = []
    for run in args.runs:
        plan = Plan(
            args.couples,
            "postgres",
            args.limited,
            processes=2,
            webhook=True,
            claim_timeout=args.claim_timeout,
            kill_at=args.kill_at,
            label=f"{run}-",
        )
        outcomes.append(
            asyncio.run(
                run_fanout(
                    plan,
                    where,
                    kill_one if run == "kill" else None,
                    lambda engine, kill: {
                        "stranded_done_after": stranded_done_after(engine, kill.pop("stranded"))
                    },
                )
            )
        )
    print(report(outcomes))
    print()
    rows = []
    for run, o in zip(args.runs, outcomes, strict=True):
        k = o.kill
        rows.append(
            [
                run,
                " / ".join(f"{c:.1f}" for c in o.per_process_cpu),
                k.get("sent_at_kill", "-"),
                k.get("timers_claimed_at_kill", "-"),
                k.get("messages_sending_at_kill", "-"),
                k.get("accepted_not_marked_at_kill", "-"),
                o.duplicated,
                k.get("duplicates_outside_window", "-"),
                o.lost,
                k.get("stranded_done_after") if k else "-",
                k.get("complete_after_kill") if k else "-",
            ]
        )
    print(
        table(
            rows,
            [
                "run",
                "CPU s per process",
                "sent at kill",
                "timers claimed at kill",
                "msgs being sent at kill",
                "of which accepted (may repeat)",
                "duplicated",
                "duplicates outside the window",
                "lost",
                "killed process's work done s after kill",
                "all delivered s after kill",
            ],
        )
    )
    for run, o in zip(args.runs, outcomes, strict=True):
        if run == "kill":
            k = o.kill
            done = k.get("complete_after_kill")
            limit = args.claim_timeout
            taken = k.get("stranded_done_after")
            print(
                f"\nkill run: lost {o.lost}, duplicated {o.duplicated} "
                f"({k.get('duplicates_outside_window')} outside the documented window); the "
                f"killed process's claimed timers and messages were finished "
                f"{'?' if taken is None else round(taken, 1)} s after the kill (claim timeout "
                f"{limit:g} s, sweep every 1 s); everything delivered "
                f"{'?' if done is None else round(done, 1)} s after the kill"
            )


if __name__ == "__main__":
    main()
