"""How fast the trail's archive is read: parsing, normalising and summarising CloudTrail log files.

For each size: write a local archive laid out like a trail's bucket (`AWSLogs/ACCOUNT/CloudTrail/REGION/
YYYY/MM/DD/*.json.gz`, gzip'd `{"Records": [...]}`) to a temporary directory, from the record shapes in
/work/shared/aws-samples/cloudtrail/records.jsonl with varied principals, actions, source addresses, errors
and times; about 1% of the records are repeated in the next file (duplicates, dropped on eventID), about 2%
are delivered in the next day's folder (late), and a few fall before the window. Then, each in a fresh
process (so its peak RSS is its own):

- serial: `local_activity(..., processes=1)`, one process: the same listing, parsing, deduplicating and
  summarising code as `--source s3` (`remediator.events.archive`), file by file;
- parallel: `local_activity(..., processes=N)`, as `--source s3` reads a long window: cut into one sub-window
  of whole days per process, each parsed in its own process, the summaries merged. The result is checked
  equal to the serial one.

Printed: records read per second (every record of every file listed, duplicates included), unique events,
and peak RSS (VmHWM) against the process's RSS before reading. Then the LookupEvents side: N events over
30 days in the emulator's us-east-1, read the way `remediator activity --source lookup` reads them (every
enabled region, 50 events a page, AWS's 2 calls per second per region): the calls made (pages = calls).

    python benchmarks/bench_events.py [--sizes 250000,1000000] [--per-file 500] [--days 30] [--regions 3]
        [--processes 2] [--lookup-events 1000] [--keep DIR]

Prints figures only; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import gzip
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make `remediator` importable from the clone
    sys.path.insert(0, str(REPO))

import orjson  # noqa: E402

SAMPLES = Path("/work/shared/aws-samples/cloudtrail/records.jsonl")
ACCOUNT = "123456789012"
START = datetime(2026, 1, 1, tzinfo=UTC)
ACTIONS = [
    ("iam.amazonaws.com", "GetUserPolicy"), ("iam.amazonaws.com", "ListRoles"), ("iam.amazonaws.com", "GetRole"),
    ("iam.amazonaws.com", "ListAttachedRolePolicies"), ("sts.amazonaws.com", "AssumeRole"),
    ("sts.amazonaws.com", "GetCallerIdentity"), ("s3.amazonaws.com", "ListBuckets"),
    ("s3.amazonaws.com", "GetBucketPolicy"), ("ec2.amazonaws.com", "DescribeInstances"),
    ("ec2.amazonaws.com", "RunInstances"), ("lambda.amazonaws.com", "ListFunctions20150331"),
    ("lambda.amazonaws.com", "UpdateFunctionConfiguration20150331v2"), ("kms.amazonaws.com", "Decrypt"),
    ("monitoring.amazonaws.com", "PutMetricData"), ("logs.amazonaws.com", "CreateLogStream"),
    ("cloudtrail.amazonaws.com", "LookupEvents"), ("autoscaling.amazonaws.com", "DescribeLaunchConfigurations"),
]  # fmt: skip
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2", "eu-central-1"]


def rss_mb(field: str = "VmHWM") -> float:
    """This process's peak (VmHWM) or current (VmRSS) resident set, MiB. /proc's figures are the process's own;
    ru_maxrss (the fallback) also carries the peak of the process a spawned child was forked from."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


# --- the archive ---------------------------------------------------------------------------------------


def templates() -> list[dict[str, Any]]:
    """The sample records, whatever envelope they come in (a LookupEvents event, a log file's Records)."""
    found: list[dict[str, Any]] = []
    for line in SAMPLES.read_text().splitlines():
        record = orjson.loads(line)["record"]
        if "CloudTrailEvent" in record:
            found.append(orjson.loads(record["CloudTrailEvent"]))
        elif "Records" in record:
            found += record["Records"]
        else:
            found.append(record)
    return [r for r in found if isinstance(r.get("userIdentity"), dict)]


def identities(n_users: int = 400, n_roles: int = 120) -> list[dict[str, Any]]:
    users = [
        {"type": "IAMUser", "principalId": f"AIDA{i:016d}", "arn": f"arn:aws:iam::{ACCOUNT}:user/user-{i}",
         "accountId": ACCOUNT, "userName": f"user-{i}"}
        for i in range(n_users)
    ]  # fmt: skip
    roles = [
        {"type": "AssumedRole", "principalId": f"AROA{i:016d}:session-{i % 7}",
         "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/role-{i}/session-{i % 7}", "accountId": ACCOUNT,
         "sessionContext": {"attributes": {"mfaAuthenticated": "false", "creationDate": "2026-01-01T00:00:00Z"},
                            "sessionIssuer": {"type": "Role", "principalId": f"AROA{i:016d}",
                                              "arn": f"arn:aws:iam::{ACCOUNT}:role/team/role-{i}",
                                              "accountId": ACCOUNT, "userName": f"role-{i}"}}}
        for i in range(n_roles)
    ]  # fmt: skip
    others = [
        {"type": "AWSService", "invokedBy": "config.amazonaws.com"},
        {"type": "AWSService", "invokedBy": "lambda.amazonaws.com"},
        {"type": "AWSAccount", "principalId": "AIDAQ", "accountId": "777788889999"},
        {"type": "Root", "principalId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root", "accountId": ACCOUNT},
    ]
    return users + roles + others


def write_archive(root: Path, records: int, days: int, regions: list[str], per_file: int) -> dict[str, Any]:
    """`records` records in files of about `per_file`, spread over days × regions; returns what was written."""
    shapes = templates()
    who = identities()
    folders = [(d, r) for d in range(days) for r in regions]
    files_per_folder = max(1, round(records / per_file / len(folders)))
    per_file = max(1, records // (len(folders) * files_per_folder))
    base = root / "AWSLogs" / ACCOUNT / "CloudTrail"
    written = files = duplicates = late = early = 0
    previous: list[dict[str, Any]] = []
    n = 0
    for day, region in folders:
        folder_day = START + timedelta(days=day)
        directory = base / region / f"{folder_day:%Y/%m/%d}"
        directory.mkdir(parents=True, exist_ok=True)
        for f in range(files_per_folder):
            batch: list[dict[str, Any]] = []
            for i in range(per_file):
                n += 1
                shape = shapes[n % len(shapes)]
                source, name = ACTIONS[(n * 7) % len(ACTIONS)]
                seconds = (f * per_file + i) * 86_400 // (files_per_folder * per_file)
                when = folder_day + timedelta(seconds=seconds)
                if n % 50 == 0 and day > 0:  # late: an event of the day before, delivered today
                    when, late = folder_day - timedelta(minutes=1 + n % 10), late + 1
                if day == 0 and f == 0 and i < 3:  # before the window, in its first folder
                    when, early = folder_day - timedelta(hours=1), early + 1
                record = dict(shape)
                who_index = (n * 13) % len(who)
                record.update(
                    eventID=f"{n:08x}-0000-4000-8000-{n:012x}",
                    eventTime=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    eventSource=source,
                    eventName=name,
                    awsRegion=region,
                    userIdentity=who[who_index],
                    # a few addresses per principal (a summary keeps each principal's), hostnames for services
                    sourceIPAddress=f"198.51.{who_index % 256}.{n % 4}" if n % 5 else "config.amazonaws.com",
                )
                if n % 40 == 0:
                    record["errorCode"] = "AccessDenied"
                    record["errorMessage"] = f"User: x is not authorized to perform: {source.split('.')[0]}:{name}"
                else:
                    record.pop("errorCode", None)
                    record.pop("errorMessage", None)
                batch.append(record)
            repeated = previous[:5] if len(batch) > 100 else []  # the same eventIDs again: a second trail's copy
            duplicates += len(repeated)
            name = f"{ACCOUNT}_CloudTrail_{region}_{folder_day:%Y%m%d}T{f:04d}Z_{f:016x}.json.gz"
            (directory / name).write_bytes(gzip.compress(orjson.dumps({"Records": batch + repeated}), 6))
            previous = batch
            written += len(batch) + len(repeated)
            files += 1
    return {
        "records": written, "files": files, "duplicates": duplicates, "late": late, "early": early,
        "bytes": sum(p.stat().st_size for p in base.rglob("*.json.gz")),
    }  # fmt: skip


# --- reading it (in fresh processes) ------------------------------------------------------------------------


def _window(days: int) -> Any:
    from remediator.events.activity import Window

    return Window(START, START + timedelta(days=days))


def _warm() -> None:
    """Load what any real run loads once (the action catalogue) before the clock starts."""
    from remediator.events import actions

    actions.action_of("iam.amazonaws.com", "GetRole")


def measure(root: str, days: int, processes: int) -> dict[str, Any]:
    """Runs in a fresh process: `local_activity` over the archive, in one process or `processes`."""
    import gc

    from remediator.events.archive import local_activity
    from remediator.events.lookup import Coverage

    _warm()
    gc.collect()
    before = rss_mb("VmRSS")
    window = _window(days)
    coverage = Coverage()
    began = time.perf_counter()
    principals = local_activity(root, ACCOUNT, window, coverage, processes=processes)
    elapsed = time.perf_counter() - began
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if processes > 1 else 0.0
    return {
        "seconds": elapsed,
        "events": sum(p.events for p in principals),
        "principals": len(principals),
        "digest": orjson.dumps([p.to_dict() for p in principals], option=orjson.OPT_SORT_KEYS),
        "rss_before_mb": before,
        "rss_peak_mb": rss_mb(),
        "children_peak_mb": children,
        "notes": coverage.notes,
    }


def in_fresh_process(root: Path, days: int, processes: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(measure, str(root), days, processes).result()


# --- LookupEvents -------------------------------------------------------------------------------------------


def lookup_calls(n: int) -> None:
    """N events over 30 days in the emulator's us-east-1, read as `--source lookup` reads them."""
    from remediator.aws import session
    from remediator.aws.context import ReadContext
    from remediator.aws.session import AccountSession
    from remediator.events.lookup import PAGE_SIZE, Coverage, lookup_events
    from remediator.model import Account
    from remediator.sandbox import shims
    from remediator.sandbox.server import Emulator

    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(key, None)
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    emulator = Emulator()
    try:
        emulator.reset()
        now = datetime.now(UTC).replace(microsecond=0)
        shapes = templates()
        who = identities()
        records = []
        for i in range(n):
            record = dict(shapes[i % len(shapes)])
            record.update(
                eventID=f"lookup-{i}",
                eventTime=(now - timedelta(seconds=1 + i * 30 * 86_400 // max(1, n)))
                .isoformat()
                .replace("+00:00", "Z"),
                awsRegion="us-east-1",
                userIdentity=who[(i * 13) % len(who)],
            )
            records.append(record)
        shims.add_lookup_events(ACCOUNT, "us-east-1", records)
        calls: Counter[str] = Counter()
        observer = lambda _a, service, op, _p, _r: calls.update([f"{service}:{op}"])  # noqa: E731
        session.CALL_OBSERVERS.append(observer)
        ctx = ReadContext(AccountSession(Account("bench", ACCOUNT, endpoint_url=emulator.url), read_only=True))
        coverage = Coverage()
        began = time.perf_counter()
        events = lookup_events(ctx, now - timedelta(days=30), now, coverage)
        elapsed = time.perf_counter() - began
        session.CALL_OBSERVERS.remove(observer)
        regions = len(coverage.regions)
        pages = -(-n // PAGE_SIZE)
        looked = calls["cloudtrail:LookupEvents"]
        print(
            f"LookupEvents, 30-day window, {n} events in us-east-1: {len(events)} read with {looked} LookupEvents"
            f" calls ({coverage.calls} counted) over {regions} enabled region(s): {pages} page(s) of {PAGE_SIZE} in"
            f" us-east-1 + {regions - 1} (one empty page per other region); {elapsed:.1f}s at AWS's 2 calls/s per"
            f" region (us-east-1's {pages} pages alone need {(pages - 1) / 2:.1f}s at that rate)"
        )
    finally:
        emulator.stop()


# --- main ---------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="250000,1000000", help="records in the archive, comma-separated")
    parser.add_argument("--per-file", type=int, default=500, help="records per log file (about)")
    parser.add_argument("--days", type=int, default=30, help="days of the archive (the window)")
    parser.add_argument("--regions", type=int, default=3, help=f"regions, 1 to {len(REGIONS)}")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2, help="parallel mode's processes")
    parser.add_argument("--lookup-events", type=int, default=1000, help="LookupEvents side: N events (0: skip)")
    parser.add_argument("--keep", help="write the archives under this directory and keep them")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    regions = REGIONS[: max(1, min(len(REGIONS), args.regions))]
    print(
        f"{os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.2f}; Python {sys.version.split()[0]};"
        f" {args.days} days, {len(regions)} region(s)"
    )
    rows = []
    for size in sizes:
        parent = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-events-"))
        root = parent / f"archive-{size}"
        try:
            if root.exists():
                shutil.rmtree(root)
            began = time.perf_counter()
            made = write_archive(root, size, args.days, regions, args.per_file)
            print(
                f"wrote {made['records']:,} records ({made['duplicates']:,} repeated, {made['late']:,} late,"
                f" {made['early']} before the window) in {made['files']:,} files, {made['bytes'] / 2**20:.0f} MiB"
                f" gzip'd, in {time.perf_counter() - began:.1f}s (not measured)",
                flush=True,
            )
            serial = in_fresh_process(root, args.days, 1)
            parallel = in_fresh_process(root, args.days, args.processes)
            same = serial["digest"] == parallel["digest"]
            for mode, result in (("serial", serial), (f"{args.processes} processes", parallel)):
                rate = made["records"] / result["seconds"]
                peak = max(result["rss_peak_mb"], result["children_peak_mb"])
                rows.append(
                    (made["records"], mode, result["seconds"], rate, result["events"], result["rss_before_mb"], peak)
                )
                print(
                    f"  {mode}: {result['seconds']:.1f}s, {rate:,.0f} records/s, {result['events']:,} unique events in"
                    f" the window, {result['principals']} principals; peak RSS {peak:.0f} MiB"
                    f" (before reading {result['rss_before_mb']:.0f} MiB); load average {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
            print(f"  parallel result == serial result: {same}")
            for note in serial["notes"]:
                print(f"  note: {note}")
        finally:
            if not args.keep:
                shutil.rmtree(parent, ignore_errors=True)
    print()
    head = ("records", "mode", "seconds", "records/s", "events", "RSS before", "peak RSS")
    print(f"{head[0]:>10}  {head[1]:<12} {head[2]:>8} {head[3]:>10} {head[4]:>10} {head[5]:>10} {head[6]:>9}")
    for records, mode, seconds, rate, events, before, peak in rows:
        print(f"{records:>10,}  {mode:<12} {seconds:>8.1f} {rate:>10,.0f} {events:>10,} {before:>9.0f}M {peak:>8.0f}M")
    if args.lookup_events:
        print()
        lookup_calls(args.lookup_events)
    return 0


if __name__ == "__main__":
    sys.exit(main())
