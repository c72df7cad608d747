"""Summarise a py-spy collapsed-stack file: where the bot's time goes.

    python -m bench.profile /tmp/mend-updates-.../mend-sqlite.prof [--top 25] [--focus NAME]
    python -m bench.profile .../mend-sqlite.prof --children "transaction (runtime.py)"

Prints the functions with the most samples on the stack (inclusive) and at the top of it
(self), as shares of all samples. `--focus` keeps only stacks through a function name.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

# Frames where a thread waits rather than works (py-spy cannot always tell with --nonblocking).
IDLE = ("_worker (concurrent/futures/thread.py", "EpollSelector.select (")


def load(path: Path, focus: str | None) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        frames_part, _, count = line.rpartition(" ")
        if not frames_part or not count.isdigit():
            continue
        frames = frames_part.split(";")
        if frames[-1].startswith(IDLE):
            continue
        if focus and not any(focus in frame for frame in frames):
            continue
        stacks.append((frames, int(count)))
    return stacks


def short(frame: str) -> str:
    # "function (path/to/module.py:123)" -> "function (module.py)"
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit("/", 1)[-1].split(":")[0]
    return f"{name} ({file})" if file else name


def summarise(stacks: list[tuple[list[str], int]], top: int) -> str:
    total = sum(count for _, count in stacks) or 1
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in stacks:
        for name in {short(f) for f in frames}:
            inclusive[name] += count
        own[short(frames[-1])] += count
    lines = [f"{total} busy samples (waiting threads left out)", "", "inclusive (on the stack):"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    lines += ["", "self (at the top):"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    return "\n".join(lines)


def children(stacks: list[tuple[list[str], int]], name: str, top: int) -> str:
    """What the first frame matching `name` spends its samples in, one level down."""
    total = sum(count for _, count in stacks) or 1
    below: Counter[str] = Counter()
    inside = 0
    for frames, count in stacks:
        names = [short(f) for f in frames]
        at = next((i for i, frame in enumerate(names) if name in frame), None)
        if at is None:
            continue
        inside += count
        below[names[at + 1] if at + 1 < len(names) else "(itself)"] += count
    lines = [f"{100 * inside / total:5.1f}%  {name} (of all busy samples), of which:"]
    lines += [f"  {100 * n / total:5.1f}%  {child}" for child, n in below.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--focus", default=None)
    parser.add_argument("--children", default=None, help="break one function down a level")
    args = parser.parse_args()
    stacks = load(args.path, args.focus)
    if args.children:
        print(children(stacks, args.children, args.top))
    else:
        print(summarise(stacks, args.top))


if __name__ == "__main__":
    main()
