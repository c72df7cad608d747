"""Mutation score of the unit tests over `flows/` and the runtime, with mutmut 3.

    python -m bench.mutation                 # a seeded sample of 300 mutants (~30 min, 2 cores)
    python -m bench.mutation --sample 0      # every mutant (about 16,000: many hours)
    python -m bench.mutation --keep --recheck  # after adding tests: the sample's survivors again

mutmut (configured in pyproject.toml, `[tool.mutmut]`) copies the code to `mutants/`, makes
every small change it knows (a `<` for a `<=`, a string emptied, an argument dropped ...) and
runs the tests that cover the changed function against each. A mutant is killed when a test
fails. The tests run are `tests/flows` and `tests/bot` on SQLite, without the ones that start
`python -m bot` (the subprocess would not load the mutant; marker `subprocess`).

The score is killed / (checked - judged equivalent). Equivalent mutants (no test could tell
them apart from the original: the behaviour is the same) are listed with the reason in
`bench/mutation_equivalent.txt`; everything else that survived counts against the score.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"
EQUIVALENT = Path(__file__).with_name("mutation_equivalent.txt")
GOAL = 0.85
# mutmut's exit codes for "the tests noticed" (1: failed, 3: pytest's internal error) and the
# ones it calls a timeout: a mutant that makes the tests hang is caught, too.
KILLED = {1, 3}
TIMEOUT = {36, -24, 24, 152, 255}
NO_SUCH_MUTANT = "bench.mutation.none_selected"


LOG = ROOT / "mutants" / "bench-mutation.log"


def mutmut(*args: str, children: int) -> None:
    """One `mutmut run`; its output goes to mutants/bench-mutation.log."""
    env = {key: value for key, value in os.environ.items() if key != "TEST_DATABASE_URL"}
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(children), *args]
    MUTANTS.mkdir(exist_ok=True)
    with LOG.open("a") as log:
        subprocess.run(
            command, cwd=ROOT, env=env, check=False, stdout=log, stderr=subprocess.STDOUT
        )


def exit_codes() -> dict[str, int | None]:
    codes: dict[str, int | None] = {}
    for meta in sorted(MUTANTS.rglob("*.meta")):
        codes.update(json.loads(meta.read_text())["exit_code_by_key"])
    return codes


@cache
def _functions(path: Path) -> tuple[list[str], dict[str, tuple[int, int]]]:
    """The lines of mutmut's copy of a file, and where each function in it is."""
    source = path.read_text()
    spans = {
        node.name: (node.lineno - 1, node.end_lineno or node.lineno)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    return source.splitlines(), spans


def forget_survivors(chosen: list[str]) -> None:
    """Clear the recorded result of every chosen mutant that survived, so it is run again."""
    wanted = set(chosen)
    for meta in sorted(MUTANTS.rglob("*.meta")):
        data = json.loads(meta.read_text())
        codes = data["exit_code_by_key"]
        survived = [
            name
            for name, code in codes.items()
            if name in wanted and code is not None and code not in KILLED | TIMEOUT
        ]
        if survived:
            for name in survived:
                codes[name] = None
            meta.write_text(json.dumps(data, indent=4))


def change(name: str) -> str:
    """The lines a mutant changes, as `- old` / `+ new`."""
    module, _, function = name.rpartition(".")
    lines, spans = _functions(MUTANTS / (module.replace(".", "/") + ".py"))
    original = function.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"
    if function not in spans or original not in spans:
        return "?"
    before, after = (lines[slice(*spans[key])] for key in (original, function))
    diff = difflib.ndiff(before, after)
    return " / ".join(
        line[:1] + " " + line[2:].strip()
        for line in diff
        if line.startswith(("- ", "+ ")) and "__mutmut_" not in line
    )


def equivalent() -> dict[str, str]:
    """`mutant name  reason` lines; `#` starts a comment."""
    if not EQUIVALENT.exists():
        return {}
    found: dict[str, str] = {}
    for line in EQUIVALENT.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, reason = line.partition(" ")
            found[name] = reason.strip()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sample",
        type=int,
        default=300,
        help="how many mutants to check, drawn with --seed (0: all)",
    )
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--children", type=int, default=2, help="mutants checked side by side")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="reuse mutants/ and its results instead of starting afresh",
    )
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="with --keep: check the sample's survivors again against the tests as they are "
        "now (mutmut finds which functions new tests cover); what was killed stays killed, "
        "which holds as long as no test was removed or weakened since",
    )
    args = parser.parse_args()
    if args.recheck and not args.keep:
        parser.error("--recheck needs --keep (it reuses the results of an earlier run)")

    started = time.monotonic()
    if not args.keep and MUTANTS.exists():
        shutil.rmtree(MUTANTS)
    if not MUTANTS.exists():
        # Generates the mutants and records which tests cover which function; checks none.
        mutmut(NO_SUCH_MUTANT, children=args.children)
    names = sorted(exit_codes())
    chosen = (
        names
        if args.sample <= 0 or args.sample >= len(names)
        else sorted(random.Random(args.seed).sample(names, args.sample))
    )
    if args.recheck:
        forget_survivors(chosen)
    pending = [name for name in chosen if exit_codes().get(name) is None]
    if pending:
        # One run for all of them: a second `mutmut run` can drop the results of the first.
        mutmut(*pending, children=args.children)
    codes = exit_codes()
    if pending and all(codes.get(name) is None for name in pending):
        tail = LOG.read_text(errors="replace").replace("\r", "\n").splitlines()[-25:]
        raise SystemExit("mutmut checked nothing; the end of its log:\n" + "\n".join(tail))
    report(chosen, codes, len(names), time.monotonic() - started)


def report(chosen: list[str], codes: dict[str, int | None], total: int, took: float) -> None:
    same = equivalent()
    outcome: Counter[str] = Counter()
    survivors: list[str] = []
    for name in chosen:
        code = codes.get(name)
        if code is None:
            outcome["not checked"] += 1
        elif code in KILLED or code in TIMEOUT:
            outcome["killed"] += 1
        elif name in same:
            outcome["equivalent"] += 1
        else:
            outcome["survived"] += 1
            survivors.append(name)
    judged = outcome["killed"] + outcome["survived"]
    score = outcome["killed"] / judged if judged else 0.0
    print(f"mutants: {total} in all, {len(chosen)} checked in {took / 60:.1f} min")
    print("  " + ", ".join(f"{key}: {count}" for key, count in sorted(outcome.items())))
    print(
        f"score: {outcome['killed']} killed of {judged} non-equivalent = {score:.1%} "
        f"(goal {GOAL:.0%}: {'met' if score >= GOAL else 'NOT met'})"
    )
    if survivors:
        print("survivors (more with: python -m mutmut show <name>):")
        for name in survivors:
            print(f"  {name}  (exit {codes.get(name)}): {change(name)}")


if __name__ == "__main__":
    main()
