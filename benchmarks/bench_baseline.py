"""The full baseline on one account, the issue's two runs: calls and wall time, with the goals beside them.

    python benchmarks/bench_baseline.py [--sizes 50,500] [--repeat 3]

For each N: reset one in-process emulator and seed it as benchmarks/bench_check.py does (N users, half with
two access keys; N/2 roles; N/10 customer managed policies; remediator/sandbox/bulk.py) in its *drifted*
state: a weak password policy, every third role with a 12-hour session, every two-key user with both keys
active (one above the baseline's max_active_per_user 1). Two console administrators with MFA are added,
and AccountMFAEnabled is answered 1 (the emulator pins it to 0), as tests/integration/test_call_counts.py
does, so that what is left after applying is nothing: exit 0 means compliant. Then, counted and timed:

1. **drifted, full baseline, check**: `remediator run playbooks/cis-iam-baseline.yml --check`, the baseline
   as shipped (its key and user sweeps in report mode), --repeat times (median);
2. the same check of the baseline *with its remediation on* (written to a temporary file): the two lines
   the baseline leaves commented, `action: deactivate` for the access keys and `action: disable` for the
   users, with `max_changes: 10000` on those two tasks (a sweep that deactivates stops above 25 changes
   unless the task says otherwise). This is the plan that step 3 applies;
3. **apply**: `remediator run <baseline with remediation> ` once (it changes the account): every extra
   key is deactivated, the password policy and the role sessions are fixed;
4. **compliant again after apply, check**: both playbooks checked again, --repeat times each.

Goals (from the issue): a drifted check costs at most one call per user holding a candidate key, plus 20;
a compliant re-check after apply at most 20. A candidate key is one the credential report shows breaking
one of the baseline's key rules (an active key unused for 45 days, older than 90, or above one active key
per user); the users holding one are counted here from the report, independently of remediator. Every
API call is counted through remediator.aws.session.CALL_OBSERVERS; seeding calls are not counted.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make `remediator` and `benchmarks` importable from the clone
    sys.path.insert(0, str(REPO))

from benchmarks.bench_check import CallCounter, parse_sizes, use_emulator_credentials, write_inventory  # noqa: E402
from remediator import keys  # noqa: E402
from remediator.aws import session  # noqa: E402
from remediator.cli import main as remediator_main  # noqa: E402
from remediator.credreport import parse  # noqa: E402
from remediator.sandbox.bulk import WEAK_PASSWORD_POLICY, iam_client, seed_account, set_password_policy  # noqa: E402
from remediator.sandbox.server import Emulator  # noqa: E402

BASELINE = REPO / "playbooks" / "cis-iam-baseline.yml"
# The issue's figures at N=500 (one emulator, 500 users, 750 keys, 250 roles), printed beside ours.
ISSUE = {
    "drifted": "issue, N=500: remediator then 509 calls, Cloud Custodian 1,304",
    "after apply": "issue, N=500: remediator then 258 calls, Cloud Custodian 1,315",
}
# The baseline's key rules (playbooks/cis-iam-baseline.yml), to count the users holding a candidate key.
UNUSED_DAYS, MAX_AGE_DAYS, MAX_ACTIVE = 45, 90, 1
CONSTANT = 20


@dataclass
class Run:
    name: str
    playbook: str
    n: int
    seconds: list[float]
    calls: Counter[str]
    exit_codes: list[int]
    varied: bool
    goal: int | None = None
    goal_text: str = ""
    stderr: str = ""

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def verdict(self) -> str:
        if self.goal is None:
            return "-"
        return "meets" if self.total <= self.goal else "MISSES"


def run_cli(argv: list[str]) -> tuple[float, CallCounter, int, str]:
    """One in-process `remediator ...`: wall seconds, calls, exit code, stderr."""
    import gc

    counter = CallCounter()
    out, err = io.StringIO(), io.StringIO()
    gc.collect()  # the emulator shares this heap: see benchmarks/README.md
    session.CALL_OBSERVERS.append(counter)
    try:
        started = time.perf_counter()
        with redirect_stdout(out), redirect_stderr(err):
            code = remediator_main(argv)
        seconds = time.perf_counter() - started
    finally:
        session.CALL_OBSERVERS.remove(counter)
    return seconds, counter, code, err.getvalue()


def measure(name: str, playbook: Path, n: int, argv: list[str], repeat: int) -> Run:
    runs = [run_cli(argv) for _ in range(repeat)]
    first = runs[0][1].by_operation
    return Run(
        name=name,
        playbook=playbook.name,
        n=n,
        seconds=[r[0] for r in runs],
        calls=first,
        exit_codes=[r[2] for r in runs],
        varied=any(r[1].by_operation != first for r in runs),
        stderr=runs[0][3],
    )


def remediating(baseline: Path, directory: Path) -> Path:
    """The baseline with the remediation it leaves commented switched on (keys deactivate, users disable)."""
    plays = yaml.safe_load(baseline.read_text(encoding="utf-8"))
    switched = set()
    for play in plays:
        for task in play["tasks"]:
            for module, action in (("iam_access_keys", "deactivate"), ("iam_users", "disable")):
                if module in task:
                    task[module]["action"] = action
                    task["max_changes"] = 10000
                    switched.add(module)
    if switched != {"iam_access_keys", "iam_users"}:
        raise RuntimeError(f"{baseline}: expected an iam_access_keys and an iam_users task, found {sorted(switched)}")
    path = directory / "cis-iam-baseline-remediating.yml"
    path.write_text(yaml.safe_dump(plays, sort_keys=False), encoding="utf-8")
    return path


def root_with_mfa(client: Any) -> None:
    """The emulator pins AccountMFAEnabled to 0; a compliant account has root MFA (as AWS reports it)."""

    def after(parsed: dict[str, Any], **_: Any) -> None:
        parsed.setdefault("SummaryMap", {})["AccountMFAEnabled"] = 1

    client.meta.events.register("after-call.iam.GetAccountSummary", after)


def two_console_admins_with_mfa(url: str) -> None:
    """What the baseline's iam_admins (min 2) and console-MFA checks ask of a compliant account."""
    iam = iam_client(url)
    iam.create_group(GroupName="admins")
    iam.attach_group_policy(GroupName="admins", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    for name in ("admin-1", "admin-2"):
        iam.create_user(UserName=name)
        iam.add_user_to_group(GroupName="admins", UserName=name)
        iam.create_login_profile(UserName=name, Password="Xx-0123456789!")
        serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]["SerialNumber"]
        iam.enable_mfa_device(
            UserName=name, SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
        )


def candidate_holders(url: str) -> int:
    """Users the credential report shows holding a key that breaks one of the baseline's key rules (one
    uncounted GetCredentialReport; the same test remediator makes, written out here on its own)."""
    iam = iam_client(url)
    for _ in range(20):
        if iam.generate_credential_report()["State"] == "COMPLETE":
            break
        time.sleep(0.5)
    rows = parse(iam.get_credential_report()["Content"])
    now = datetime.now(UTC)
    unused, old = now - timedelta(days=UNUSED_DAYS), now - timedelta(days=MAX_AGE_DAYS)

    def holds_one(row: Any) -> bool:
        active = [k for k in row.keys if k.active]
        if len(active) > MAX_ACTIVE:
            return True
        return any((k.last_used or k.last_rotated or now) < unused or (k.last_rotated or now) < old for k in active)

    return sum(1 for row in rows if not row.is_root and holds_one(row))


def set_account_rate(rate: float | None) -> str:
    """Set the per-account rate limit's start and ceiling (when remediator has one); say what is in effect."""
    try:
        from remediator.aws import ratelimit
    except ImportError:
        return "no client-side rate limit"
    if rate is not None:
        ratelimit.ACCOUNT_RATE = ratelimit.ACCOUNT_MAX_RATE = rate
    return (
        f"client-side rate limit {ratelimit.ACCOUNT_RATE:g} calls/s per account, rising to"
        f" {ratelimit.ACCOUNT_MAX_RATE:g}"
    )


def with_latency(seconds: float) -> Any:
    """A client hook that makes every request wait `seconds` before it is sent (a network round trip), or None."""
    if seconds <= 0:
        return None

    def wait(**_: Any) -> None:
        time.sleep(seconds)

    def hook(client: Any) -> None:
        client.meta.events.register("before-send.*.*", wait)

    return hook


class AwsThrottle:
    """IAM's own throttling, which the emulator does not do: a server-side token bucket of `rate` calls a
    second (bursts of `rate`) for the account; a call that finds it empty is answered `Throttling: Rate
    exceeded` (400), as IAM answers. Installed as a client hook on IAM clients only; counts what it refused."""

    def __init__(self, rate: float) -> None:
        import threading

        self.rate, self.tokens, self.refused = rate, rate, 0
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def __call__(self, client: Any) -> None:
        if client.meta.service_model.service_name == "iam":
            client.meta.events.register("before-send.iam.*", self._send)

    def _send(self, **_: Any) -> Any:
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self._at) * self.rate)
            self._at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return None
            self.refused += 1
        return _throttling_response()


def _throttling_response() -> Any:
    from botocore.awsrequest import AWSResponse

    body = (
        b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
        b"</Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    )

    class Raw:
        def stream(self, **_: Any) -> Any:
            yield body

    return AWSResponse("https://iam.amazonaws.com/", 400, {"Content-Type": "text/xml"}, Raw())


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


def table(runs: list[Run]) -> str:
    head = ("run", "playbook", "N", "wall s", "calls", "goal", "", "exit", "calls by operation")
    rows = []
    for r in runs:
        by_op = ", ".join(f"{op}={count}" for op, count in sorted(r.calls.items())) or "-"
        if r.varied:
            by_op += " (varied between repeats)"
        goal = f"<= {r.goal}" if r.goal is not None else "-"
        rows.append(
            (
                r.name,
                r.playbook,
                str(r.n),
                f"{statistics.median(r.seconds):.3f}",
                str(r.total),
                goal,
                r.verdict(),
                "/".join(map(str, sorted(set(r.exit_codes)))),
                by_op,
            )
        )
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head) - 1)]
    lines = []
    for row in [head, *rows]:
        cells = [row[i].rjust(widths[i]) if i in (2, 3, 4) else row[i].ljust(widths[i]) for i in range(len(widths))]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * len(head[-1]))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[50, 500], help="users per account (default: 50,500)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each check; the median is shown (default: 3)")
    parser.add_argument("--workers", type=int, default=4, help="threads seeding the emulator (default: 4)")
    parser.add_argument(
        "--account-rate",
        type=float,
        help="calls a second per account allowed by remediator's client-side rate limit (remediator.aws.ratelimit;"
        " default: its own, which is what AWS gets). A high value shows what the emulator alone takes",
    )
    parser.add_argument(
        "--read-threads",
        type=int,
        help="threads for an account's per-user and per-key reads (remediator.keys.READ_WORKERS; default: its own)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="add this round-trip time to every call remediator makes (the emulator answers in a few"
        " milliseconds, AWS in tens): shows what reading concurrently saves (default: 0)",
    )
    parser.add_argument(
        "--aws-rate",
        type=float,
        help="make IAM throttle above this many calls a second, as AWS does and the emulator does not"
        " (a server-side token bucket answering `Throttling: Rate exceeded`): shows the client-side limit"
        " finding AWS's rate (default: no throttling)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    rate = set_account_rate(args.account_rate)
    if args.read_threads is not None:
        keys.READ_WORKERS = args.read_threads
    delay = with_latency(args.latency_ms / 1000)

    use_emulator_credentials()
    emulator = Emulator()
    session.CLIENT_HOOKS.append(root_with_mfa)
    if delay is not None:
        session.CLIENT_HOOKS.append(delay)
    throttle = AwsThrottle(args.aws_rate) if args.aws_rate else None
    if throttle is not None:
        session.CLIENT_HOOKS.append(throttle)
    runs: list[Run] = []
    print(
        f"{os.cpu_count()} CPU(s), {load()}; emulator {emulator.url}; sizes {args.sizes};"
        f" {args.repeat} run(s) per check; {rate}; per-account read threads: {getattr(keys, 'READ_WORKERS', 1)};"
        f" added latency {args.latency_ms:g} ms; AWS throttles IAM above"
        f" {f'{args.aws_rate:g} calls/s' if args.aws_rate else 'nothing'}"
    )
    try:
        with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
            inventory = write_inventory(Path(tmp), emulator.url)
            fixing = remediating(BASELINE, Path(tmp))
            check = ["-i", str(inventory), "--check"]
            for n in args.sizes:
                emulator.reset()
                seeded = seed_account(emulator.url, n, workers=args.workers)  # drifted: long sessions, 2 active keys
                set_password_policy(emulator.url, WEAK_PASSWORD_POLICY)
                two_console_admins_with_mfa(emulator.url)
                holders = candidate_holders(emulator.url)  # also asks for the report once, uncounted
                print(f"seeded N={n}: {seeded.summary()}; {holders} users hold a candidate key", flush=True)
                if not runs:  # once per process, untimed: imports and botocore's first model loads
                    run_cli(["run", str(BASELINE), *check])
                drifted_goal = holders + CONSTANT
                goal_text = f"{holders} users holding a candidate key + {CONSTANT}"
                for name, book in (
                    ("drifted, full baseline, check", BASELINE),
                    ("drifted, remediating, check", fixing),
                ):
                    r = measure(name, book, n, ["run", str(book), *check], args.repeat)
                    r.goal, r.goal_text = drifted_goal, goal_text
                    runs.append(r)
                    print(f"  {name}: {r.total} calls, {[f'{s:.3f}' for s in r.seconds]}s, exit {r.exit_codes}")
                applied = measure("apply (remediating)", fixing, n, ["run", str(fixing), "-i", str(inventory),
                                  "--journal", str(Path(tmp) / f"journal-{n}.jsonl")], 1)  # fmt: skip
                runs.append(applied)
                print(f"  apply: {applied.total} calls, {applied.seconds[0]:.3f}s, exit {applied.exit_codes}")
                for name, book in (
                    ("compliant again after apply, check", BASELINE),
                    ("compliant again after apply, check", fixing),
                ):
                    r = measure(name, book, n, ["run", str(book), *check], args.repeat)
                    r.goal, r.goal_text = CONSTANT, f"{CONSTANT}"
                    runs.append(r)
                    print(
                        f"  {name} ({book.name}): {r.total} calls,"
                        f" {[f'{s:.3f}' for s in r.seconds]}s, exit {r.exit_codes}"
                    )
    finally:
        session.CLIENT_HOOKS.remove(root_with_mfa)
        if delay is not None:
            session.CLIENT_HOOKS.remove(delay)
        emulator.stop()

    print()
    print(table(runs))
    print()
    for r in runs:
        if r.goal is not None:
            issue = ISSUE["drifted" if r.name.startswith("drifted") else "after apply"]
            print(
                f"{r.name} ({r.playbook}) N={r.n}: {r.total} calls, goal <= {r.goal} ({r.goal_text}): {r.verdict()};"
                f" {issue}"
            )
    if throttle is not None:
        print(f"IAM answered Throttling {throttle.refused} times in all (seeding included: it goes around remediator)")
    print(f"{load()} at the end")
    problems = 0
    for r in runs:
        if 1 in r.exit_codes:
            problems += 1
            first_line = (r.stderr.strip().splitlines() or ["(no message)"])[0]
            print(f"warning: {r.name} ({r.playbook}) N={r.n}: the run failed: {first_line}", file=sys.stderr)
        if r.name.startswith("compliant") and set(r.exit_codes) != {0}:
            problems += 1
            print(f"warning: {r.name} ({r.playbook}) N={r.n}: not compliant (exit {r.exit_codes})", file=sys.stderr)
        if r.verdict() == "MISSES":
            problems += 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
