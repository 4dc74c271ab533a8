"""The full baseline's two runs side by side with Cloud Custodian (c7n), on one emulator: wall time and calls.

    python -m venv /tmp/c7nvenv && /tmp/c7nvenv/bin/pip install c7n     # kept out of the project's dependencies
    python benchmarks/bench_custodian.py [--sizes 500] [--repeat 1] [--custodian /tmp/c7nvenv/bin/custodian]

For each N: reset one in-process emulator and seed the drifted state of benchmarks/bench_baseline.py (N users,
half with two active keys; N/2 roles, every third with a 12-hour session; N/10 customer managed policies; a
weak password policy; two console administrators with MFA). Then, counted and timed:

1. **drifted**: `remediator run playbooks/cis-iam-baseline.yml --check` (in-process, as bench_baseline does),
   then `custodian run` of POLICIES below (a subprocess, so its wall time includes its interpreter start);
2. remediator applies the baseline with its remediation on (bench_baseline.remediating; not compared);
3. **compliant again after apply**: both again, on the same account state.

Both tools talk to a loopback counting proxy in front of the emulator, which counts every HTTP request by
service (from the SigV4 credential scope) and operation (X-Amz-Target, or the query protocol's Action): the
same counter for both. Remediator's own count (remediator.aws.session.CALL_OBSERVERS) is printed beside it.
Seeding and the script's own reads go straight to the emulator and are not counted. Each Custodian run gets
a new cache file (-f): its policies share what one run read, as they would by default, but a run is never
answered from the one before. Its credential filters wait --report-delay seconds (Custodian's default 10)
after asking for a credential report.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make `remediator` and `benchmarks` importable from the clone
    sys.path.insert(0, str(REPO))

from benchmarks.bench_baseline import (  # noqa: E402
    BASELINE,
    candidate_holders,
    load,
    remediating,
    root_with_mfa,
    run_cli,
    set_account_rate,
    two_console_admins_with_mfa,
)
from benchmarks.bench_check import parse_sizes, use_emulator_credentials, write_inventory  # noqa: E402
from remediator.aws import session  # noqa: E402
from remediator.sandbox.bulk import WEAK_PASSWORD_POLICY, seed_account, set_password_policy  # noqa: E402
from remediator.sandbox.server import Emulator  # noqa: E402

# The baseline's checks (playbooks/cis-iam-baseline.yml), as Custodian policies. Differences: see README.
POLICIES = """
policies:
  - name: password-policy
    resource: account
    filters:
      - or:
          - {type: password-policy, key: MinimumPasswordLength, value: 14, op: lt}
          - {type: password-policy, key: RequireSymbols, value: false}
          - {type: password-policy, key: RequireNumbers, value: false}
          - {type: password-policy, key: RequireUppercaseCharacters, value: false}
          - {type: password-policy, key: RequireLowercaseCharacters, value: false}
          - {type: password-policy, key: AllowUsersToChangePassword, value: false}
          - {type: password-policy, key: PasswordReusePrevention, value: 24, op: lt}
  - name: root-account
    resource: account
    filters:
      - or:
          - {type: iam-summary, key: AccountMFAEnabled, value: 1, op: ne}
          - {type: iam-summary, key: AccountAccessKeysPresent, value: 0, op: gt}
  - name: user-credentials
    resource: iam-user
    filters:
      - or:
          - and:
              - {type: credential, key: access_keys.active, value: true}
              - {type: credential, key: access_keys.last_used_date, value_type: age, value: 45, op: gt}
          - and:
              - {type: credential, key: access_keys.active, value: true}
              - {type: credential, key: access_keys.last_rotated, value_type: age, value: 90, op: gt}
          - and:
              - {type: credential, key: password_enabled, value: true}
              - {type: credential, key: mfa_active, value: false}
  - name: users-with-two-active-keys
    resource: iam-user
    filters:
      - {type: access-key, key: Status, value: Active}
      - {type: value, key: 'length("c7n:matched-keys")', value: 1, op: gt}
  - name: roles-long-sessions
    resource: iam-role
    filters:
      - {type: value, key: MaxSessionDuration, value: 3600, op: gt}
  - name: policies-allowing-all
    resource: iam-policy
    query:
      - {Scope: Local}
    filters:
      - type: has-allow-all
"""


class Counting:
    """A loopback HTTP proxy in front of the emulator that counts requests by service:operation."""

    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlparse(upstream)
        host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.counts: Counter[str] = Counter()
        lock, local, counts = threading.Lock(), threading.local(), self.counts

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with lock:
                    counts[operation(self.headers, self.path, body)] += 1
                conn = getattr(local, "conn", None)
                for attempt in (0, 1):
                    if conn is None:
                        conn = local.conn = http.client.HTTPConnection(host, port, timeout=120)
                    try:
                        conn.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
                        answer = conn.getresponse()
                        data = answer.read()
                        break
                    except (http.client.HTTPException, OSError):
                        conn.close()
                        conn = local.conn = None
                        if attempt:
                            raise
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def take(self) -> Counter[str]:
        """The counts since the last take, and start again."""
        taken = Counter(self.counts)
        self.counts.clear()
        return taken

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def operation(headers: object, path: str, body: bytes) -> str:
    auth = headers.get("Authorization") or ""  # type: ignore[attr-defined]
    service = "?"
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(scope) >= 4:
            service = scope[3]
    target = headers.get("X-Amz-Target")  # type: ignore[attr-defined]
    if target:
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    query = urllib.parse.parse_qs(urllib.parse.urlparse(path).query)
    action = (query.get("Action") or [None])[0]
    if action is None and body:
        action = (urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action") or [None])[0]
    return f"{service}:{action or path.split('?', 1)[0]}"


@dataclass
class Result:
    run: str
    tool: str
    n: int
    seconds: list[float] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    own_count: int | None = None  # remediator's CALL_OBSERVERS count
    outcome: str = ""

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def remediator_run(proxy: Counting, run: str, n: int, argv: list[str], repeat: int) -> Result:
    result = Result(run, "remediator", n)
    proxy.take()
    for i in range(repeat):
        seconds, counter, code, err = run_cli(argv)
        calls = proxy.take()
        result.seconds.append(seconds)
        if i == 0:
            result.calls, result.own_count = calls, sum(counter.by_operation.values())
            result.outcome = f"exit {code}" + (f": {err.strip().splitlines()[0]}" if code == 1 and err.strip() else "")
    return result


def custodian_run(proxy: Counting, custodian: str, policies: Path, out: Path, run: str, n: int, repeat: int) -> Result:
    result = Result(run, "Custodian", n)
    env = dict(os.environ, AWS_ENDPOINT_URL=proxy.url, AWS_DEFAULT_REGION="us-east-1")
    env["AWS_ACCESS_KEY_ID"] = env["AWS_SECRET_ACCESS_KEY"] = "testing"
    proxy.take()
    for i in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        cache = out.parent / f"custodian-{time.monotonic_ns()}.cache"  # new per run: shared within it only
        argv = [custodian, "run", "-f", str(cache), "-r", "us-east-1", "-s", str(out), str(policies)]
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        calls = proxy.take()
        result.seconds.append(seconds)
        if i == 0:
            result.calls = calls
            found = []
            for path in sorted(out.glob("*/resources.json")):
                found.append(f"{path.parent.name}={len(json.loads(path.read_text(encoding='utf-8')))}")
            result.outcome = f"exit {done.returncode}; found " + (", ".join(found) or "-")
            times = re.findall(r"policy:(\S+) resource:\S+ region:\S+ count:\d+ time:([\d.]+)", done.stderr)
            if times:
                result.outcome += "; policy seconds " + ", ".join(f"{name}={t}" for name, t in times)
            if done.returncode:
                tail = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
                result.outcome += f"; {tail}"
    return result


def custodian_start(custodian: str) -> float:
    """Seconds for `custodian version`: the interpreter and import cost inside each Custodian wall time."""
    started = time.perf_counter()
    subprocess.run([custodian, "version"], capture_output=True, check=False)
    return time.perf_counter() - started


def table(results: list[Result]) -> str:
    head = ("run", "N", "tool", "wall s", "calls", "outcome", "calls by operation")
    rows = []
    for r in results:
        by_op = ", ".join(f"{op}={c}" for op, c in sorted(r.calls.items()))
        calls = str(r.total) + (f" (own count {r.own_count})" if r.own_count is not None else "")
        rows.append((r.run, str(r.n), r.tool, f"{statistics.median(r.seconds):.2f}", calls, r.outcome, by_op))
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head) - 1)]
    lines = ["  ".join(row[i].ljust(widths[i]) for i in range(len(widths))) + "  " + row[-1] for row in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * len(head[-1]))
    return "\n".join(line.rstrip() for line in lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[500], help="users per account (default: 500)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each check; the median is shown (default: 1)")
    parser.add_argument("--workers", type=int, default=4, help="threads seeding the emulator (default: 4)")
    parser.add_argument(
        "--custodian", default="/tmp/c7nvenv/bin/custodian", help="the custodian command (default: %(default)s)"
    )
    parser.add_argument(
        "--report-delay",
        type=float,
        default=10,
        help="seconds Custodian's credential filters wait for the report they ask for (its default: 10)",
    )
    parser.add_argument(
        "--account-rate",
        type=float,
        help="remediator's client-side rate limit, calls a second (default: its own; Custodian has none)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    custodian = shutil.which(args.custodian)
    if custodian is None:
        print(f"{args.custodian}: not installed; Custodian is skipped (python -m venv /tmp/c7nvenv &&"
              " /tmp/c7nvenv/bin/pip install c7n)", file=sys.stderr)  # fmt: skip
    rate = set_account_rate(args.account_rate)
    use_emulator_credentials()
    emulator = Emulator()
    proxy = Counting(emulator.url)
    session.CLIENT_HOOKS.append(root_with_mfa)
    start = custodian_start(custodian) if custodian else 0.0
    print(
        f"{os.cpu_count()} CPU(s), {load()}; emulator {emulator.url}, counting proxy {proxy.url}; sizes {args.sizes};"
        f" {args.repeat} run(s) each; remediator: {rate}; custodian: {custodian or 'skipped'}"
        f" (credential report_delay {args.report_delay:g}s)"
        + (f" (`custodian version` takes {start:.2f}s)" if custodian else "")
    )
    results: list[Result] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-custodian-") as tmp:
            inventory = write_inventory(Path(tmp), proxy.url)  # remediator goes through the proxy too
            fixing = remediating(BASELINE, Path(tmp))
            policies = Path(tmp) / "policies.yml"
            delay = f"type: credential, report_delay: {args.report_delay:g},"
            policies.write_text(POLICIES.replace("type: credential,", delay), encoding="utf-8")
            check = ["run", str(BASELINE), "-i", str(inventory), "--check"]
            for n in args.sizes:
                emulator.reset()
                seeded = seed_account(emulator.url, n, workers=args.workers)
                set_password_policy(emulator.url, WEAK_PASSWORD_POLICY)
                two_console_admins_with_mfa(emulator.url)
                holders = candidate_holders(emulator.url)
                print(f"seeded N={n}: {seeded.summary()}; {holders} users hold a candidate key", flush=True)
                if not results:
                    run_cli(check)  # untimed warm-up: imports, botocore's first model loads
                for run in ("drifted, full baseline, check", "compliant again after apply"):
                    if run.startswith("compliant"):
                        _, counter, code, _ = run_cli(["run", str(fixing), "-i", str(inventory)])
                        print(f"  apply (remediator): exit {code}, {proxy.take().total()} calls", flush=True)
                    mine = remediator_run(proxy, run, n, check, args.repeat)
                    results.append(mine)
                    print(f"  {run}: remediator {mine.total} calls, {mine.seconds}s, {mine.outcome}", flush=True)
                    if custodian:
                        theirs = custodian_run(proxy, custodian, policies, Path(tmp) / "out", run, n, args.repeat)
                        results.append(theirs)
                        print(f"  {run}: Custodian {theirs.total} calls, {theirs.seconds}s, {theirs.outcome}",
                              flush=True)  # fmt: skip
    finally:
        session.CLIENT_HOOKS.remove(root_with_mfa)
        proxy.stop()
        emulator.stop()

    print()
    print(table(results))
    print()
    for mine in (r for r in results if r.tool == "remediator"):
        theirs = next((r for r in results if r.tool == "Custodian" and (r.run, r.n) == (mine.run, mine.n)), None)
        if theirs is None:
            continue
        wall = statistics.median(theirs.seconds) / statistics.median(mine.seconds)
        calls = theirs.total / mine.total if mine.total else float("inf")
        print(f"{mine.run}, N={mine.n}: Custodian / remediator = {wall:.1f}x wall, {calls:.1f}x calls")
    print(f"{load()} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
