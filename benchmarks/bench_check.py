"""How `remediator run PLAYBOOK --check` scales with the size of an account: wall time and API calls.

For each N: reset one in-process emulator, seed it with N users (1.5 access keys each on average), N/2
roles and N/10 customer managed policies (see benchmarks/seed.py), then run each playbook (by default the
CIS IAM baseline, and the roles sweep alone: benchmarks/roles-sweep.yml) in check mode in-process,
--repeat times in each of two states (after one untimed warm-up run per process):
(a) drifted: a weak password policy, and every third role with a 12-hour session;
(b) compliant: the password policy at the baseline's values, and every role at one hour.
Every API call remediator makes is counted through remediator.aws.session.CALL_OBSERVERS, with the page
size (MaxItems) asked of each paginated IAM read.

    python benchmarks/bench_check.py [--sizes 50,500] [--repeat 5] [--playbook PATH]...

Prints figures only; asserts nothing about time. Operations are counted as they come, so tasks added
to the baseline show up in the table without changes here.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make `benchmarks` and `remediator` importable from the clone
    sys.path.insert(0, str(REPO))

from benchmarks.seed import (  # noqa: E402
    BASELINE_PASSWORD_POLICY,
    WEAK_PASSWORD_POLICY,
    seed_account,
    set_password_policy,
    set_role_sessions,
)
from remediator.aws import session  # noqa: E402
from remediator.cli import main as remediator_main  # noqa: E402
from remediator.sandbox.server import Emulator  # noqa: E402

DEFAULT_PLAYBOOKS = [REPO / "playbooks" / "cis-iam-baseline.yml", REPO / "benchmarks" / "roles-sweep.yml"]
# state → (password policy, whether every third role has a 12-hour session)
STATES = {"drifted": (WEAK_PASSWORD_POLICY, True), "compliant": (BASELINE_PASSWORD_POLICY, False)}
# IAM list calls whose page size decides how many calls a large account takes on AWS (the emulator never
# truncates a page). AWS's default page is 100 items; MaxItems may ask for up to 1,000.
PAGED_READS = ("iam:ListRoles", "iam:GetAccountAuthorizationDetails", "iam:ListUsers", "iam:ListPolicies")


class CallCounter:
    """A CALL_OBSERVERS entry: counts calls by operation (thread-safe: accounts are planned in a pool)."""

    def __init__(self) -> None:
        self.by_operation: Counter[str] = Counter()
        self.mutating: Counter[str] = Counter()
        self.page_sizes: dict[str, set[Any]] = {}  # paged read → the MaxItems values asked (None: not given)
        self._lock = threading.Lock()

    def __call__(self, account: str, service: str, operation: str, params: dict[str, Any], read_only: bool) -> None:
        name = f"{service}:{operation}"
        with self._lock:
            self.by_operation[name] += 1
            if session.is_mutating(operation):
                self.mutating[name] += 1
            if name in PAGED_READS:
                self.page_sizes.setdefault(name, set()).add((params or {}).get("MaxItems"))


@dataclass
class Measure:
    playbook: str
    n: int
    state: str
    seconds: list[float]
    calls: Counter[str]
    mutating: Counter[str]
    exit_codes: list[int]
    calls_varied: bool
    stderr: str
    page_sizes: dict[str, set[Any]]

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def run_check(playbook: Path, inventory: Path) -> tuple[float, CallCounter, int, str]:
    """One in-process `remediator run PLAYBOOK -i INVENTORY --check`: wall seconds, calls, exit code, stderr."""
    counter = CallCounter()
    out, err = io.StringIO(), io.StringIO()
    # The emulator's objects share this heap: without this, a full collection of them (~0.2 s at the
    # sizes here) lands inside some runs at random, a cost a standalone remediator would not pay.
    gc.collect()
    session.CALL_OBSERVERS.append(counter)
    try:
        started = time.perf_counter()
        with redirect_stdout(out), redirect_stderr(err):
            code = remediator_main(["run", str(playbook), "-i", str(inventory), "--check"])
        seconds = time.perf_counter() - started
    finally:
        session.CALL_OBSERVERS.remove(counter)
    return seconds, counter, code, err.getvalue()


def measure(n: int, state: str, playbook: Path, inventory: Path, repeat: int) -> Measure:
    runs = [run_check(playbook, inventory) for _ in range(repeat)]
    first = runs[0][1]
    return Measure(
        playbook=shown(playbook),
        n=n,
        state=state,
        seconds=[seconds for seconds, _, _, _ in runs],
        calls=first.by_operation,
        mutating=first.mutating,
        exit_codes=[code for _, _, code, _ in runs],
        calls_varied=any(counter.by_operation != first.by_operation for _, counter, _, _ in runs),
        stderr=runs[0][3],
        page_sizes=first.page_sizes,
    )


def shown(playbook: Path) -> str:
    return str(playbook.relative_to(REPO) if playbook.is_relative_to(REPO) else playbook)


def write_inventory(directory: Path, url: str) -> Path:
    path = directory / "inventory.yml"
    path.write_text(f'all:\n  accounts:\n    bench:\n      endpoint_url: "{url}"\n', encoding="utf-8")
    return path


def use_emulator_credentials() -> None:
    """Whatever credentials the shell has must not be sent even to the emulator."""
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(key, None)
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"


def table(results: list[Measure]) -> str:
    head = ("playbook", "N", "state", "wall s", "calls", "exit", "calls by operation")
    rows = []
    order = {playbook: i for i, playbook in enumerate(dict.fromkeys(r.playbook for r in results))}
    for r in sorted(results, key=lambda r: (order[r.playbook], r.n)):  # stable: states stay in measured order
        wall = f"{statistics.median(r.seconds):.3f}"
        codes = sorted(set(r.exit_codes))
        by_op = ", ".join(f"{op}={count}" for op, count in sorted(r.calls.items())) or "-"
        if r.calls_varied:
            by_op += " (varied between repeats)"
        rows.append((Path(r.playbook).name, str(r.n), r.state, wall, str(r.total), "/".join(map(str, codes)), by_op))
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head) - 1)]
    lines = []
    for row in [head, *rows]:
        cells = [row[i].rjust(widths[i]) if i in (1, 3, 4, 5) else row[i].ljust(widths[i]) for i in range(len(widths))]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * len(head[-1]))
    return "\n".join(lines)


def parse_sizes(value: str) -> list[int]:
    try:
        sizes = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes wants comma-separated integers, not {value!r}")
    if not sizes or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError("--sizes wants one or more integers of 1 or more")
    return sizes


def paging(results: list[Measure]) -> list[str]:
    """One line per paged IAM read: the page size asked for, and what that means on AWS."""
    asked: dict[str, set[Any]] = {}
    for r in results:
        for operation, sizes in r.page_sizes.items():
            asked.setdefault(operation, set()).update(sizes)
    lines = []
    for operation in sorted(asked):
        sizes = asked[operation]
        if sizes == {1000}:
            lines.append(f"{operation}: MaxItems=1000 (AWS's maximum page)")
            continue
        shown_sizes = ", ".join("not given" if s is None else f"MaxItems={s}" for s in sorted(sizes, key=str))
        lines.append(
            f"{operation}: {shown_sizes}: AWS pages at 100 items by default, so on AWS this read takes one more"
            " call per 100 items (the emulator never truncates, so the counts above do not show it)"
        )
    return lines


def same_calls_when_compliant(results: list[Measure]) -> list[str]:
    """The goal: a compliant account takes the same calls at every size. One line per playbook."""
    lines = []
    for playbook in dict.fromkeys(r.playbook for r in results):
        compliant = [r for r in results if r.playbook == playbook and r.state == "compliant"]
        if len(compliant) < 2:
            continue
        sizes = ", ".join(f"N={r.n}: {r.total}" for r in compliant)
        verdict = "the same" if all(r.calls == compliant[0].calls for r in compliant) else "NOT the same"
        lines.append(f"{Path(playbook).name}: compliant calls {verdict} at every size ({sizes})")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[50, 500], help="users per account (default: 50,500)")
    parser.add_argument("--repeat", type=int, default=5, help="check runs per state; the median is shown (default: 5)")
    parser.add_argument(
        "--playbook",
        type=Path,
        action="append",
        help="may be repeated (default: the CIS IAM baseline and benchmarks/roles-sweep.yml)",
    )
    parser.add_argument("--workers", type=int, default=4, help="threads seeding the emulator (default: 4)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    playbooks = [p.resolve() for p in (args.playbook or DEFAULT_PLAYBOOKS)]

    use_emulator_credentials()
    emulator = Emulator()
    results: list[Measure] = []
    for playbook in playbooks:
        print(f"remediator run {shown(playbook)} -i <inventory: one account on the emulator> --check")
    print(
        f"emulator {emulator.url}; sizes {','.join(map(str, args.sizes))}; {args.repeat} run(s) per state",
        flush=True,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
            inventory = write_inventory(Path(tmp), emulator.url)
            for n in args.sizes:
                emulator.reset()
                seeded = seed_account(emulator.url, n, workers=args.workers)
                print(f"seeded N={n}: {seeded.summary()}", flush=True)
                if not results:  # once per process, untimed: imports and botocore's first model loads
                    for playbook in playbooks:
                        run_check(playbook, inventory)
                for state, (policy, long_sessions) in STATES.items():
                    set_password_policy(emulator.url, policy)
                    set_role_sessions(emulator.url, seeded.roles, long_sessions=long_sessions, workers=args.workers)
                    for playbook in playbooks:
                        result = measure(n, state, playbook, inventory, args.repeat)
                        results.append(result)
                        spread = ", ".join(f"{s:.3f}" for s in result.seconds)
                        print(
                            f"  {Path(result.playbook).name} {state}: {spread}s; exit {result.exit_codes}", flush=True
                        )
    finally:
        emulator.stop()

    print()
    print(table(results))
    print()
    for line in same_calls_when_compliant(results) + paging(results):
        print(line)
    problems = 0
    for r in results:
        if r.mutating:
            problems += 1
            print(
                f"warning: {r.playbook} N={r.n} {r.state}: check mode made mutating calls: {dict(r.mutating)}",
                file=sys.stderr,
            )
        if 1 in r.exit_codes:
            problems += 1
            first_line = (r.stderr.strip().splitlines() or ["(no message)"])[0]
            print(f"warning: {r.playbook} N={r.n} {r.state}: the run failed: {first_line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
