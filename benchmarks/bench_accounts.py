"""Many accounts: `remediator run --check` on 1 account and on 50 emulated accounts, by --forks.

Each run is what a CI job runs: `python -m remediator run BOOK -i INVENTORY --check --forks F` in its own
process, timed from start to exit (interpreter start and imports included), against an emulator in
this process. The accounts are distinct emulated accounts on the one emulator: the inventory assumes
`arn:aws:iam::ID:role/remediator` for each, and the emulator (moto) answers for account ID. The
playbook is a small baseline: the password policy and the role-session sweep.

`--latency-ms` makes the emulator answer each request that much later (a thread of its own per request,
as AWS's round trips are): what forks are for. `--pythonpath DIR` runs another checkout's remediator
(e.g. the one before a change) against the same emulator, for before/after figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BOOK = """\
- name: Small baseline
  accounts: all
  tasks:
    - name: Strong password policy
      iam_password_policy: {minimum_length: 14, require_symbols: true, require_numbers: true}
    - name: Cap role sessions
      iam_roles: {max_session_duration: 3600}
"""


def write_inventory(directory: Path, url: str, count: int) -> Path:
    lines = ["all:", "  accounts:"]
    for n in range(count):
        account_id = f"{500000000000 + n:012d}"
        lines.append(
            f"    acct{n:03d}: {{account_id: '{account_id}', role_arn: 'arn:aws:iam::{account_id}:role/remediator',"
            f" endpoint_url: '{url}'}}"
        )
    path = directory / f"inventory-{count}.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def add_latency(seconds: float) -> None:
    """Every request to the emulator answers `seconds` later (each request has its own server thread)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    answer = DomainDispatcherApplication.__call__

    def late(self, environ, start_response):  # type: ignore[no-untyped-def]
        time.sleep(seconds)
        return answer(self, environ, start_response)

    DomainDispatcherApplication.__call__ = late  # type: ignore[method-assign]


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


Measured = tuple[float, float, float, int]


def run_once(book: Path, inventory: Path, forks: int, env: dict[str, str], cwd: Path) -> Measured:
    """Wall seconds, the run's CPU seconds, the emulator's CPU seconds, the exit code."""
    child_before, self_before = cpu_seconds(resource.RUSAGE_CHILDREN), cpu_seconds(resource.RUSAGE_SELF)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "remediator", "run", str(book), "-i", str(inventory), "--check", "--forks", str(forks)],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode not in (0, 2):
        print(f"warning: the run failed ({done.returncode}): {done.stderr.strip()[:300]}", file=sys.stderr)
    return (
        wall,
        cpu_seconds(resource.RUSAGE_CHILDREN) - child_before,
        cpu_seconds(resource.RUSAGE_SELF) - self_before,
        done.returncode,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=50, help="accounts in the large run (default 50)")
    parser.add_argument("--forks", default="1,16", help="--forks values for the large run (default 1,16)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is shown (default 3)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every emulator answer (default 0)")
    parser.add_argument("--pythonpath", help="run the remediator found here instead (another checkout)")
    args = parser.parse_args(argv)
    forks_values = [int(f) for f in args.forks.split(",") if f.strip()]

    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "false"  # the playbook attaches none; loading costs per account
    from remediator.sandbox.server import Emulator

    if args.latency_ms:
        add_latency(args.latency_ms / 1000)
    emulator = Emulator()
    tree = Path(args.pythonpath).resolve() if args.pythonpath else REPO
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    env["PYTHONPATH"] = str(tree)
    rows: list[tuple[str, list[Measured]]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-accounts-") as tmp:
            directory = Path(tmp)
            book = directory / "baseline.yml"
            book.write_text(BOOK, encoding="utf-8")
            one = write_inventory(directory, emulator.url, 1)
            many = write_inventory(directory, emulator.url, args.accounts)
            print(f"emulator {emulator.url}; remediator from {tree}; latency {args.latency_ms:g} ms;", end=" ")
            print(f"{args.repeat} run(s) per figure")
            run_once(book, many, 16, env, directory)  # untimed: the emulator makes each account on first use
            plan = [("1 account, --forks 16", one, 16)]
            plan += [(f"{args.accounts} accounts, --forks {f}", many, f) for f in forks_values]
            for label, inventory, forks in plan:
                runs = [run_once(book, inventory, forks, env, directory) for _ in range(args.repeat)]
                rows.append((label, runs))
                walls = ", ".join(f"{r[0]:.2f}" for r in runs)
                print(f"  {label}: {walls} s; exit {sorted({r[3] for r in runs})}", flush=True)
    finally:
        emulator.stop()

    print()
    print(f"{'run':<28} {'wall s':>7} {'run CPU s':>10} {'emulator CPU s':>15}")
    medians = {}
    for label, runs in rows:
        wall = statistics.median(r[0] for r in runs)
        medians[label] = wall
        cpu = statistics.median(r[1] for r in runs)
        emu = statistics.median(r[2] for r in runs)
        print(f"{label:<28} {wall:>7.2f} {cpu:>10.2f} {emu:>15.2f}")
    base = medians["1 account, --forks 16"]
    print()
    for label, wall in medians.items():
        if label.startswith("1 account"):
            continue
        verdict = "meets" if wall < 3 * base else "misses"
        print(f"{label}: {wall / base:.2f}× one account ({verdict} the goal of under 3×)")
    return 1 if any(r[3] not in (0, 2) for _, runs in rows for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
