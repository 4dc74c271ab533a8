"""A remediating run under injected faults: wall time and API calls against the same run without them.

    python benchmarks/bench_faults.py [--size 200] [--throttle 0.30] [--errors 0.05] [--seed 7]

The account is seeded as benchmarks/bench_baseline.py seeds it (N users, half with two active keys; N/2
roles, every third with a 12-hour session; N/10 customer managed policies; a weak password policy; two
console administrators with MFA; root MFA answered on), and the playbook is the baseline with its
remediation on (keys deactivate, users disable), plus a play of non-idempotent writes: N/10 new roles
(CreateRole) and a new document for every seeded policy (CreatePolicyVersion).

Twice, on a freshly reset and identically seeded emulator:

1. **fault-free**: `remediator run <playbook> --journal J`, timed, its calls counted; then `run --check`;
2. **faults**: the same, with every IAM request answered `Throttling: Rate exceeded` (400) with probability
   `--throttle`, and with probability `--errors` sent on to the emulator (so it is applied) and then answered
   `ServiceUnavailable` (503): a lost answer, the hard case for a write. The check afterwards runs without
   faults.

Printed: wall seconds, the ratio of the two (the issue's goal: at most 5×), calls by operation (every attempt
counts: a retried call is counted again), the faults injected, the per-account rate limit's throttles and its
rate at the end, the check's exit code (0: compliant, nothing lost), and the writes the emulator applied more
than once. A create applied twice is a duplicate (a second policy version, say); an idempotent write repeated
after a lost answer changes nothing and is listed apart. Writes are sent on by the injector itself, so it
sees every write the emulator applied and its answer. Nothing here asserts on wall time.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make `remediator` and `benchmarks` importable from the clone
    sys.path.insert(0, str(REPO))

from benchmarks.bench_baseline import (  # noqa: E402
    BASELINE,
    load,
    remediating,
    root_with_mfa,
    run_cli,
    two_console_admins_with_mfa,
)
from benchmarks.bench_check import use_emulator_credentials, write_inventory  # noqa: E402
from remediator.aws import ratelimit, session  # noqa: E402
from remediator.sandbox.bulk import WEAK_PASSWORD_POLICY, seed_account, set_password_policy  # noqa: E402
from remediator.sandbox.server import Emulator  # noqa: E402

NEW_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::bench-data/*"}],
}
EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
# Creates whose repeat would be a duplicate; any other write repeated changes nothing.
NON_IDEMPOTENT = ("CreateRole", "CreateUser", "CreateGroup", "CreatePolicy", "CreatePolicyVersion", "CreateAccessKey")


def with_creates(playbook: Path, n: int, directory: Path) -> Path:
    """The remediating baseline plus a play of creates: N/10 new roles and a new document for each policy."""
    plays = yaml.safe_load(playbook.read_text(encoding="utf-8"))
    count = max(1, n // 10)
    tasks = [
        {"name": f"new role {i}", "iam_role": {"name": f"bench-new-role-{i:05d}", "trust_policy": EC2_TRUST}}
        for i in range(count)
    ] + [
        {"name": f"policy {i}", "iam_policy": {"name": f"bench-policy-{i:05d}", "document": NEW_DOCUMENT}}
        for i in range(count)
    ]
    plays.append({"name": "creates", "accounts": "all", "tasks": tasks})
    path = directory / "remediating-with-creates.yml"
    path.write_text(yaml.safe_dump(plays, sort_keys=False), encoding="utf-8")
    return path


class Faults:
    """A client hook on IAM clients: throttles and lost answers at random (seeded), and a log of every write
    the emulator applied. Writes are sent on by the hook itself, so it sees their answers."""

    def __init__(self, throttle: float, errors: float, seed: int) -> None:
        from botocore.httpsession import URLLib3Session

        self.throttle, self.errors = throttle, errors
        self.active = False
        self.injected: Counter[str] = Counter()
        self.applied: Counter[str] = Counter()  # "Operation params-json" → times the emulator applied it
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._http = URLLib3Session(max_pool_connections=20)

    def __call__(self, client: Any) -> None:
        if client.meta.service_model.service_name == "iam":
            client.meta.events.register("before-send.iam.*", self._send)

    def _send(self, request: Any, event_name: str, **_: Any) -> Any:
        operation = event_name.rsplit(".", 1)[-1]
        write = session.is_mutating(operation)
        with self._lock:
            draw = self._rng.random() if self.active else 1.0
        if draw < self.throttle:
            self.injected["Throttling"] += 1
            return _error("Throttling", "Rate exceeded", 400)
        if not write and draw >= self.throttle + self.errors:
            return None
        answer = self._http.send(request)
        if write and answer.status_code < 300:
            body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
            with self._lock:
                self.applied[f"{operation} {_without_version(body)}"] += 1
        if draw < self.throttle + self.errors:
            self.injected["ServiceUnavailable after the request was applied"] += 1
            return _error("ServiceUnavailable", "Service Unavailable", 503)
        return answer

    def repeated(self) -> tuple[list[str], list[str]]:
        """Writes the emulator applied more than once: (non-idempotent duplicates, idempotent repeats)."""
        twice = [key for key, count in self.applied.items() if count > 1]
        duplicates = [k for k in twice if k.split(" ", 1)[0] in NON_IDEMPOTENT]
        return duplicates, [k for k in twice if k not in duplicates]


def _without_version(body: str) -> str:
    """A query-protocol body without its Action and Version: the write's parameters, to compare."""
    return "&".join(sorted(p for p in body.split("&") if not p.startswith(("Action=", "Version="))))


def _error(code: str, message: str, status: int) -> Any:
    from botocore.awsrequest import AWSResponse

    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    ).encode()

    class Raw:
        def stream(self, **_: Any) -> Any:
            yield body

    return AWSResponse("https://iam.amazonaws.com/", status, {"Content-Type": "text/xml"}, Raw())


class Buckets:
    """Remembers the account buckets a run makes, to report their throttles and rate at the end."""

    def __init__(self) -> None:
        self.made: list[ratelimit.TokenBucket] = []
        self._make = ratelimit.account_bucket

    def __enter__(self) -> Buckets:
        def make(name: str = "") -> ratelimit.TokenBucket:
            bucket = self._make(name)
            self.made.append(bucket)
            return bucket

        ratelimit.account_bucket = make
        return self

    def __exit__(self, *_: Any) -> None:
        ratelimit.account_bucket = self._make

    def summary(self) -> str:
        if not self.made:
            return "no account bucket"
        b = self.made[-1]
        return f"bucket: {b.throttles} throttles seen, rate {b.rate:.1f} calls/s at the end, {b.waited:.1f}s waited"


def seed(emulator: Emulator, n: int, workers: int) -> str:
    emulator.reset()
    seeded = seed_account(emulator.url, n, workers=workers)
    set_password_policy(emulator.url, WEAK_PASSWORD_POLICY)
    two_console_admins_with_mfa(emulator.url)
    return seeded.summary()


def measure(name: str, emulator: Emulator, args: argparse.Namespace, faults: Faults, book: Path, tmp: Path) -> dict:
    print(f"{name}: seeding N={args.size} … ", end="", flush=True)
    print(seed(emulator, args.size, args.workers), flush=True)
    inventory = write_inventory(tmp, emulator.url)
    run_cli(["run", str(BASELINE), "-i", str(inventory), "--check"])  # asks for the credential report once
    faults.applied.clear()
    faults.injected.clear()
    faults.active = name == "faults"
    journal = tmp / f"journal-{name}.jsonl"
    with Buckets() as buckets:
        seconds, counter, code, err = run_cli(["run", str(book), "-i", str(inventory), "--journal", str(journal)])
    faults.active = False
    check = run_cli(["run", str(book), "-i", str(inventory), "--check"])
    duplicates, repeats = faults.repeated()
    result = {
        "name": name,
        "seconds": seconds,
        "exit": code,
        "stderr": err.strip().splitlines()[:3],
        "calls": sum(counter.by_operation.values()),
        "writes": sum(counter.mutating.values()),
        "by_operation": dict(sorted(counter.by_operation.items())),
        "injected": dict(faults.injected),
        "bucket": buckets.summary(),
        "check_exit": check[2],
        "duplicates": duplicates,
        "repeats": repeats,
        "applied_writes": sum(faults.applied.values()),
    }
    print(
        f"  {name}: {seconds:.2f}s, exit {code}, {result['calls']} calls ({result['writes']} writes),"
        f" injected {dict(faults.injected) or 'nothing'}; {result['bucket']}; check after: exit {check[2]};"
        f" {len(duplicates)} duplicate creates, {len(repeats)} idempotent writes repeated",
        flush=True,
    )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200, help="users in the account (default: 200)")
    parser.add_argument("--throttle", type=float, default=0.30, help="share of IAM requests throttled (0.30)")
    parser.add_argument("--errors", type=float, default=0.05, help="share applied, then answered 503 (0.05)")
    parser.add_argument("--seed", type=int, default=7, help="the faults' random seed (7)")
    parser.add_argument("--workers", type=int, default=4, help="threads seeding the emulator (4)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.throttle < 0 or args.errors < 0 or args.throttle + args.errors >= 1:
        parser.error("--throttle and --errors are shares: each 0 or more, together below 1")

    use_emulator_credentials()
    emulator = Emulator()
    faults = Faults(args.throttle, args.errors, args.seed)
    session.CLIENT_HOOKS.extend([root_with_mfa, faults])
    print(
        f"{load()}; emulator {emulator.url}; N={args.size}; faults: {args.throttle:.0%} throttled,"
        f" {args.errors:.0%} applied then answered 503 (seed {args.seed})"
    )
    try:
        with tempfile.TemporaryDirectory(prefix="bench-faults-") as directory:
            tmp = Path(directory)
            book = with_creates(remediating(BASELINE, tmp), args.size, tmp)
            run_cli(["run", str(BASELINE), "-i", str(write_inventory(tmp, emulator.url)), "--check"])  # warm up
            clean = measure("fault-free", emulator, args, faults, book, tmp)
            faulty = measure("faults", emulator, args, faults, book, tmp)
    finally:
        session.CLIENT_HOOKS.remove(root_with_mfa)
        session.CLIENT_HOOKS.remove(faults)
        emulator.stop()

    ratio = faulty["seconds"] / clean["seconds"]
    print()
    for r in (clean, faulty):
        by_op = ", ".join(f"{op.split(':', 1)[1]}={c}" for op, c in r["by_operation"].items())
        print(f"{r['name']:>10}: {r['seconds']:7.2f}s  exit {r['exit']}  check {r['check_exit']}  {r['calls']} calls")
        print(f"{'':>12}{by_op}")
        for line in r["stderr"]:
            print(f"{'':>12}stderr: {line}")
    print(f"faults / fault-free wall time: {ratio:.2f}× (goal: at most 5×)")
    print(f"duplicate creates: {faulty['duplicates'] or 'none'}")
    print(f"idempotent writes applied again after a lost answer: {len(faulty['repeats'])}")
    print(f"{load()} at the end")
    if args.json:
        args.json.write_text(json.dumps({"ratio": ratio, "runs": [clean, faulty]}, indent=2), encoding="utf-8")
    ok = faulty["check_exit"] == 0 and clean["check_exit"] == 0 and not faulty["duplicates"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
