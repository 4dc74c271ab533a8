"""How `remediator run PLAYBOOK --check` scales with the size of an account: wall time and API calls.

For each N: reset one in-process emulator, seed it with N users (1.5 access keys each on average), N/2
roles and N/10 customer managed policies (see remediator/sandbox/bulk.py), then run each playbook (by
default the CIS IAM baseline, and the roles, access-key and user sweeps alone: benchmarks/*-sweep.yml) in
check mode in-process, --repeat times in each state (after one untimed warm-up run per process):
(a) drifted: a weak password policy, every third role with a 12-hour session, and every two-key user with
    both keys active;
(b) compliant: the password policy at the baseline's values, every role at one hour, and one active key
    per user (the second key of two-key users inactive);
(c) stale, for the key and user sweeps only, measured last: (b), then --stale-fraction of all keys (active
    ones first) backdated in-process to 200-400 days old and unused for over 45 days
    (remediator.sandbox.bulk.age_keys), their users' creation before them. The stale active keys are the
    candidate keys: under the state's table row, a line gives the calls per candidate key.
Every API call remediator makes is counted through remediator.aws.session.CALL_OBSERVERS, with the page
size (MaxItems) asked of each paginated IAM read.

    python benchmarks/bench_check.py [--sizes 50,500] [--repeat 5] [--playbook PATH]... [--stale-fraction 1/3]

Prints figures only; asserts nothing about time. Operations are counted as they come, so tasks added
to the baseline show up in the table without changes here.
"""

from __future__ import annotations

import argparse
import fractions
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make `remediator` importable from the clone
    sys.path.insert(0, str(REPO))

from remediator.aws import session  # noqa: E402
from remediator.cli import main as remediator_main  # noqa: E402
from remediator.sandbox.bulk import (  # noqa: E402
    BASELINE_PASSWORD_POLICY,
    WEAK_PASSWORD_POLICY,
    Aged,
    age_keys,
    iam_client,
    seed_account,
    set_password_policy,
    set_role_sessions,
    set_second_keys,
)
from remediator.sandbox.server import Emulator  # noqa: E402

BENCH = REPO / "benchmarks"
# Measured in the drifted and compliant states, then (measured last, because the ageing cannot be undone)
# in the stale state: the sweeps whose cost should follow the candidate keys, not the users.
KEY_PLAYBOOKS = [BENCH / "keys-sweep.yml", BENCH / "users-sweep.yml"]
DEFAULT_PLAYBOOKS = [REPO / "playbooks" / "cis-iam-baseline.yml", BENCH / "roles-sweep.yml", *KEY_PLAYBOOKS]


@dataclass(frozen=True)
class State:
    policy: dict[str, Any]
    long_sessions: bool  # every third role with a 12-hour session
    second_keys_active: bool  # two-key users with both keys active (above max_active_per_user 1)
    stale: bool  # then age_keys(--stale-fraction): only the KEY_PLAYBOOKS are measured


STATES = {
    "drifted": State(WEAK_PASSWORD_POLICY, long_sessions=True, second_keys_active=True, stale=False),
    "compliant": State(BASELINE_PASSWORD_POLICY, long_sessions=False, second_keys_active=False, stale=False),
    "stale": State(BASELINE_PASSWORD_POLICY, long_sessions=False, second_keys_active=False, stale=True),
}
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


def parse_fraction(value: str) -> float:
    try:
        number = float(fractions.Fraction(value.strip()))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"--stale-fraction wants a number such as 0.33 or 1/3, not {value!r}")
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError("--stale-fraction wants a number from 0 to 1")
    return number


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


def per_candidate_key(results: list[Measure], aged: dict[int, Aged]) -> list[str]:
    """The goal for the key and user sweeps: about one call per candidate key plus a constant, not one or
    more per user. One line per playbook and N measured stale: the calls above the same playbook's compliant
    run (the constant), divided by the candidate keys (the stale active keys)."""
    lines = []
    for r in results:
        if r.state != "stale" or r.n not in aged:
            continue
        base = next((c for c in results if (c.playbook, c.n, c.state) == (r.playbook, r.n, "compliant")), None)
        candidates = aged[r.n].stale_active
        name = Path(r.playbook).name
        if base is None:
            lines.append(f"{name} N={r.n} stale: {r.total} calls, {candidates} candidate keys (no compliant run)")
            continue
        extra = r.total - base.total
        grown = {op: r.calls[op] - base.calls.get(op, 0) for op in sorted(r.calls) if r.calls[op] != base.calls[op]}
        detail = ", ".join(f"{op} +{count}" for op, count in grown.items()) or "none"
        if candidates == 0:
            lines.append(f"{name} N={r.n} stale: no candidate key; {extra:+d} calls over compliant ({detail})")
            continue
        ratio = extra / candidates
        verdict = "holds" if ratio <= 1.25 else "does NOT hold"
        holders = aged[r.n]
        lines.append(
            f"{name} N={r.n} stale: {r.total} calls = {base.total} (compliant) + {extra} for {candidates} candidate"
            f" keys ({detail}): {ratio:.2f} calls per candidate key, {extra / holders.users:.2f} per user holding"
            f" one ({holders.users} users, {holders.all_stale_users} of them with no other key),"
            f" {r.total / r.n:.3f} per user of the account; about one call per candidate key: {verdict}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[50, 500], help="users per account (default: 50,500)")
    parser.add_argument("--repeat", type=int, default=5, help="check runs per state; the median is shown (default: 5)")
    parser.add_argument(
        "--playbook",
        type=Path,
        action="append",
        help="may be repeated (default: the CIS IAM baseline and benchmarks/{roles,keys,users}-sweep.yml); the"
        " keys and users sweeps are also measured in the stale state",
    )
    parser.add_argument(
        "--stale-fraction",
        type=parse_fraction,
        default=1 / 3,
        help="share of all access keys made stale for the keys and users sweeps, active keys first (default: 1/3)",
    )
    parser.add_argument("--workers", type=int, default=4, help="threads seeding the emulator (default: 4)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    playbooks = [p.resolve() for p in (args.playbook or DEFAULT_PLAYBOOKS)]
    key_playbooks = [p for p in playbooks if p in {k.resolve() for k in KEY_PLAYBOOKS}]

    use_emulator_credentials()
    emulator = Emulator()
    results: list[Measure] = []
    aged: dict[int, Aged] = {}
    for playbook in playbooks:
        print(f"remediator run {shown(playbook)} -i <inventory: one account on the emulator> --check")
    stale = f"; stale fraction {args.stale_fraction:.3f}" if key_playbooks else ""
    print(
        f"emulator {emulator.url}; sizes {','.join(map(str, args.sizes))}; {args.repeat} run(s) per state{stale}",
        flush=True,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
            inventory = write_inventory(Path(tmp), emulator.url)
            for n in args.sizes:
                emulator.reset()
                seeded = seed_account(emulator.url, n, workers=args.workers)
                print(f"seeded N={n}: {seeded.summary()}", flush=True)
                # Ask for the credential report once, uncounted: the emulator answers STARTED to the first
                # request after a reset, and the run that got it would pause a second before polling again.
                # On AWS a report younger than four hours is reused the same way.
                iam_client(emulator.url).generate_credential_report()
                if not results:  # once per process, untimed: imports and botocore's first model loads
                    for playbook in playbooks:
                        run_check(playbook, inventory)
                for state, setup in STATES.items():
                    measured = key_playbooks if setup.stale else playbooks
                    if not measured:
                        continue
                    set_password_policy(emulator.url, setup.policy)
                    set_role_sessions(
                        emulator.url, seeded.roles, long_sessions=setup.long_sessions, workers=args.workers
                    )
                    set_second_keys(emulator.url, n, active=setup.second_keys_active, workers=args.workers)
                    if setup.stale:
                        aged[n] = age_keys(args.stale_fraction, datetime.now(UTC))
                        print(f"  aged N={n}: {aged[n].summary()}", flush=True)
                    for playbook in measured:
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
    for line in same_calls_when_compliant(results) + per_candidate_key(results, aged) + paging(results):
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
