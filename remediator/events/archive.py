"""The trail's S3 archive as an event source: any window the bucket keeps, not just LookupEvents' 90 days.

Where the files are (CloudTrail User Guide, "Finding your CloudTrail log files"):

- the trail comes from DescribeTrails in the account's home region (`trails.list_trails`): a multi-region
  trail is preferred, the account's own before an organization's;
- a trail writes under `PREFIX/AWSLogs/ACCOUNT/`, an organization trail under `PREFIX/AWSLogs/o-ORGID/ACCOUNT/`
  (the org id is read from the bucket: the `o-…/` folder of one Delimiter listing of `PREFIX/AWSLogs/`);
- log files are `…/CloudTrail/REGION/YYYY/MM/DD/*.json.gz`, one gzip'd `{"Records": [...]}` each. The date in
  the key is the day the file was *delivered*, so one day either side of the window is listed and each
  record is kept or dropped on its own `eventTime`. `CloudTrail-Digest/` (and `CloudTrail-Insight/`) are
  sibling folders, never listed.

Regions are the folders present under `…/CloudTrail/` (one Delimiter listing). Each region's day folders are
listed with `ListObjectsV2` (paginated, on a small thread pool) and the files fetched on a thread pool of
`WORKERS`, in day order with a bounded look-ahead, and handed to a `logfiles.Partition`, which parses,
deduplicates and summarises them: reading holds a few files at a time and the summary's groups, never the
archive's events. A window of MIN_DAYS_PER_PROCESS days per CPU or more is cut into whole-day sub-windows, one
partition each in its own process (parsing is CPU-bound; see `logfiles`), and their summaries merged. Events
are deduplicated on eventID (two trails delivering global events to the same folder duplicate them): all
copies of an event share its eventTime, so the IDs seen are kept for the last few event days only.

What cannot be read is counted in the coverage notes, never a crash: a file that is not gzip, not JSON or
has no `Records`; a record that cannot be normalised; a file that cannot be fetched. A day in the window
with no file at all in a region that has files on other days is a *missing day folder*. Unreadable files
and missing day folders make `coverage.complete` false: a gap is not inactivity.

The cache (`.remediator/cache/cloudtrail/<account>/v2/` by default) holds each log file's bytes as fetched,
keyed by bucket + key + ETag: a second run over the same or another window fetches only files it has not
seen. The bytes rather than parsed events: parsing costs a few µs a record, about what loading parsed rows
would, and one parser then reads both. One file per log file, written atomically, so a new log file adds an
entry and rewrites nothing.

`local_activity` reads a directory laid out like the bucket with the same code (the benchmark uses it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from remediator import timeutil
from remediator.aws.context import ReadContext
from remediator.buckets import log_prefix
from remediator.errors import AwsError, RemediatorError
from remediator.events.logfiles import Partition, PartitionFailed, RemotePartition, cuts
from remediator.events.lookup import Coverage
from remediator.events.summary import Principal, Summariser
from remediator.trails import list_trails

if TYPE_CHECKING:
    from remediator.events.activity import Window

WORKERS = 6  # files fetched at once (with LIST_WORKERS, within botocore's 10 pooled connections)
LIST_WORKERS = 4  # day folders listed at once
CACHE_ROOT = Path(".remediator") / "cache" / "cloudtrail"
CACHE_FORMAT = "v2"  # a folder: entries of another format are never read
MAX_PROCESSES = 8  # processes parsing one account's archive, at most (one per CPU)
MIN_DAYS_PER_PROCESS = 7  # a shorter window is parsed in this process: starting one costs a fraction of a second
LATE_HOURS = 1  # a day folder younger than this (today's) is not yet "missing": delivery takes minutes
SHOWN = 10  # files or days named in one note

_ORG_FOLDER = re.compile(r"o-[a-z0-9]{10,32}", re.ASCII)
_DAY = timedelta(days=1)

T = TypeVar("T")
R = TypeVar("R")


# --- where the files are: a bucket, or a local directory laid out like one ------------------------------


class Store(Protocol):
    label: str

    def folders(self, prefix: str) -> list[str]: ...

    def objects(self, prefix: str) -> list[tuple[str, str]]: ...

    def read(self, key: str) -> bytes: ...


class BucketStore:
    """One S3 bucket through the account's read-only client; counts its calls."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket
        self.label = f"s3://{bucket}/"
        self.calls = 0
        self._lock = threading.Lock()

    def _count(self, n: int = 1) -> None:
        with self._lock:
            self.calls += n

    def folders(self, prefix: str) -> list[str]:
        """The names of the folders directly under `prefix` (one Delimiter listing, paginated)."""
        found: list[str] = []
        for page in self.client.pages("list_objects_v2", Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
            self._count()
            found += [p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
        return sorted(f for f in found if f)

    def objects(self, prefix: str) -> list[tuple[str, str]]:
        """(key, ETag) of every object under `prefix` (folder markers aside)."""
        found: list[tuple[str, str]] = []
        for page in self.client.pages("list_objects_v2", Bucket=self.bucket, Prefix=prefix):
            self._count()
            found += [(o["Key"], o.get("ETag", "")) for o in page.get("Contents", []) if not o["Key"].endswith("/")]
        return sorted(found)

    def read(self, key: str) -> bytes:
        answer = self.client.call("get_object", Bucket=self.bucket, Key=key)
        self._count()
        return answer["Body"].read()


class DirectoryStore:
    """A local directory standing for the bucket (keys are paths relative to it)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.label = f"{self.root}/"
        self.calls = 0

    def folders(self, prefix: str) -> list[str]:
        try:
            with os.scandir(self.root / prefix) as entries:
                return sorted(e.name for e in entries if e.is_dir())
        except (FileNotFoundError, NotADirectoryError):
            return []

    def objects(self, prefix: str) -> list[tuple[str, str]]:
        try:
            with os.scandir(self.root / prefix) as entries:
                files = [(e.name, e.stat()) for e in entries if e.is_file()]
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted((f"{prefix}{name}", f"{st.st_size}-{st.st_mtime_ns}") for name, st in files)

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()


# --- the cache ---------------------------------------------------------------------------------------------


class Cache:
    """Per log file (bucket + key + ETag), the file's bytes as fetched. An object's ETag changes with its
    content, so an entry never goes stale; one file per log file, written atomically, so a new log file
    adds an entry and rewrites nothing. The bytes, not the parsed events: parsing again costs about as
    much as loading parsed rows would (a few µs a record), and one parser reads both."""

    def __init__(self, directory: Path, bucket: str) -> None:
        self.directory = directory
        self.bucket = bucket
        self.error = ""  # the first write that failed; writes stop after it

    def _path(self, key: str, etag: str) -> Path:
        digest = hashlib.sha256(f"{self.bucket}\n{key}\n{etag}".encode()).hexdigest()
        return self.directory / CACHE_FORMAT / digest[:2] / f"{digest}.gz"

    def load(self, key: str, etag: str) -> bytes | None:
        if not etag:
            return None
        try:
            return self._path(key, etag).read_bytes()
        except OSError:
            return None

    def save(self, key: str, etag: str, data: bytes) -> None:
        if self.error or not etag:
            return
        path = self._path(key, etag)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(data)
            os.replace(temporary, path)
        except OSError as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            temporary.unlink(missing_ok=True)


# --- reading ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Tally:
    """What a read covered, for the coverage notes."""

    regions: list[str] = dataclasses.field(default_factory=list)
    days: list[date] = dataclasses.field(default_factory=list)  # day folders listed (the window ± 1 day)
    files: int = 0
    cached: int = 0
    unreadable: list[str] = dataclasses.field(default_factory=list)  # "KEY (reason)"
    failed: list[str] = dataclasses.field(default_factory=list)  # could not be fetched or listed
    bad_records: int = 0
    events: int = 0
    duplicates: int = 0
    outside: int = 0
    missing: dict[str, list[date]] = dataclasses.field(default_factory=dict)
    processes: int = 1


def _ordered(
    pool: ThreadPoolExecutor | None, fn: Callable[[T], R], items: Iterable[T], ahead: int
) -> Iterator[tuple[T, R]]:
    """fn over items on the pool, results in the items' order, at most `ahead` in flight (inline without a pool)."""
    if pool is None:
        for item in items:
            yield item, fn(item)
        return
    iterator = iter(items)
    pending: deque[tuple[T, Any]] = deque()
    for item in iterator:
        pending.append((item, pool.submit(fn, item)))
        if len(pending) >= ahead:
            break
    while pending:
        item, future = pending.popleft()
        result = future.result()
        for more in iterator:
            pending.append((more, pool.submit(fn, more)))
            break
        yield item, result


def _days(start: datetime, end: datetime) -> list[date]:
    """The days of [start, end) (UTC; an end at midnight does not reach into that day), and one either side."""
    first = start.astimezone(UTC).date() - _DAY
    last = (end - timedelta(microseconds=1)).astimezone(UTC).date() + _DAY
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def partitions_for(window: Window, processes: int | None) -> int:
    """How many processes parse: given, or one per CPU as long as each has MIN_DAYS_PER_PROCESS days."""
    days = len(_days(window.start, window.end)) - 2
    if os.name != "posix":
        return 1  # a partition's process gets its socket by inheriting a descriptor (POSIX)
    if processes is not None:
        return max(1, min(processes, days))
    return max(1, min(os.cpu_count() or 1, MAX_PROCESSES, days // MIN_DAYS_PER_PROCESS))


def _read(
    store: Store,
    base: str,
    window: Window,
    tally: Tally,
    *,
    regions: list[str] | None = None,
    cache: Cache | None = None,
    workers: int = WORKERS,
    processes: int | None = None,
    now: datetime | None = None,
) -> Summariser:
    """Every event of the window under `base` (`…/CloudTrail/`), deduplicated and summarised.

    The window is cut into sub-windows of whole days (`logfiles.cuts`), one per process; each sub-window's
    day folders (± 1 day) are listed and fetched here on thread pools, in day order, and parsed by its
    partition (in this process when there is one)."""
    tally.regions = list(regions) if regions is not None else store.folders(base)
    tally.days = _days(window.start, window.end)
    present: dict[str, set[date]] = {region: set() for region in tally.regions}
    lock = threading.Lock()
    fetched: dict[str, bool] = {}  # key → from the cache (each file counted once, whatever reads it)

    def list_day(day: date) -> list[tuple[str, list[tuple[str, str]]]]:
        found = []
        for region in tally.regions:
            try:
                found.append((region, store.objects(f"{base}{region}/{day:%Y/%m/%d}/")))
            except (AwsError, OSError) as exc:
                with lock:
                    failure = f"{region} {day} not listed ({getattr(exc, 'code', type(exc).__name__)})"
                    if failure not in tally.failed:
                        tally.failed.append(failure)
                    present[region].add(day)  # not known to be missing; counted as failed instead
        return found

    from botocore.exceptions import BotoCoreError  # here: `doc` and `schema` load this module without AWS

    def fetch(item: tuple[date, str, str]) -> tuple[bytes | None, str]:
        """(the file's bytes, "") or (None, why it could not be fetched)."""
        _, key, etag = item
        if cache is not None and (data := cache.load(key, etag)) is not None:
            with lock:
                fetched.setdefault(key, True)
            return data, ""
        try:
            data = store.read(key)
        except AwsError as exc:
            return None, exc.code
        except (BotoCoreError, OSError) as exc:
            return None, type(exc).__name__
        with lock:  # before the cache has it: a partition sharing this day folder may find it there next
            fetched.setdefault(key, False)
        if cache is not None:
            cache.save(key, etag, data)
        return data, ""

    bounds = cuts(window.start, window.end, partitions_for(window, processes))
    spans = list(zip(bounds, bounds[1:], strict=False))
    tally.processes = len(spans)
    list_pool = ThreadPoolExecutor(max_workers=LIST_WORKERS) if workers > 1 else None
    read_pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    partitions: list[Partition | RemotePartition] = []

    def feed(partition: Partition | RemotePartition, start: datetime, end: datetime) -> None:
        def files() -> Iterator[tuple[date, str, str]]:
            for day, regions in _ordered(list_pool, list_day, _days(start, end), LIST_WORKERS * 2):
                for region, objects in regions:
                    if objects:
                        present[region].add(day)
                    for key, etag in objects:
                        yield day, key, etag

        for (day, key, _), (data, failure) in _ordered(read_pool, fetch, files(), max(1, workers) * 4):
            if data is None:
                with lock:
                    if not any(f.startswith(f"{key} (") for f in tally.failed):
                        tally.failed.append(f"{key} ({failure})")
                continue
            partition.add(day, key, data)

    try:
        if len(spans) == 1:
            partition = Partition(*spans[0])
            partitions.append(partition)
            feed(partition, *spans[0])
        else:
            partitions += [RemotePartition(start, end) for start, end in spans]
            with ThreadPoolExecutor(max_workers=len(spans)) as feeders:
                for done in [feeders.submit(feed, p, *span) for p, span in zip(partitions, spans, strict=True)]:
                    done.result()
        results = [p.result() for p in partitions]
    except PartitionFailed as exc:
        raise RemediatorError(f"reading the archive under {store.label}{base}: {exc}") from None
    finally:
        for pool in (read_pool, list_pool):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        for p in partitions:
            if isinstance(p, RemotePartition):
                p.close()

    summary = Summariser()
    records: dict[str, int] = {}
    bad: dict[str, int] = {}
    unreadable: dict[str, str] = {}
    for part, counts in results:
        summary.merge(part.groups)
        records.update(counts.records)
        bad.update(counts.bad_records)
        unreadable.update(counts.unreadable)
        tally.events += counts.events
        tally.duplicates += counts.duplicates
    tally.files = len(fetched)
    tally.cached = sum(fetched.values())
    tally.unreadable = [f"{key} ({why})" for key, why in sorted(unreadable.items())]
    tally.bad_records = sum(bad.values())
    tally.outside = sum(records.values()) - tally.bad_records - tally.events - tally.duplicates
    tally.failed.sort()

    # A day of the window with no file in a region that has files on other days. Not yet today's folder.
    settled = ((now or timeutil.now()) - timedelta(hours=LATE_HOURS)).astimezone(UTC).date()
    window_days = [d for d in tally.days[1:-1] if d <= settled]
    for region, days in present.items():
        if days:
            gaps = [d for d in window_days if d not in days]
            if gaps:
                tally.missing[region] = gaps
    return summary


def _ranges(days: list[date]) -> str:
    """2026-01-03, 2026-01-05..2026-01-07"""
    spans: list[list[date]] = []
    for day in days:
        if spans and day - spans[-1][1] == _DAY:
            spans[-1][1] = day
        else:
            spans.append([day, day])
    shown = [f"{a}" if a == b else f"{a}..{b}" for a, b in spans[:SHOWN]]
    return ", ".join(shown) + (f", +{len(spans) - SHOWN} more" if len(spans) > SHOWN else "")


def _listing(items: list[str]) -> str:
    return ", ".join(items[:SHOWN]) + (f", +{len(items) - SHOWN} more" if len(items) > SHOWN else "")


def report(tally: Tally, coverage: Coverage, where: str, cache: Cache | None = None) -> None:
    """The tally as coverage: regions read, counts in one note, details after; gaps make it incomplete."""
    coverage.regions = list(tally.regions)
    missing = sum(len(days) for days in tally.missing.values())
    days = f"{tally.days[0]}..{tally.days[-1]}" if tally.days else "none"
    coverage.notes.append(
        f"archive {where}: {len(tally.regions)} region(s), {len(tally.days)} day folder(s) each ({days}: the"
        f" window and one day either side, for late deliveries), {tally.files} file(s) read, {tally.cached} from"
        f" the cache, {len(tally.unreadable)} unreadable, {missing} missing day folder(s)"
    )
    if cache is not None:
        note = f"cache {cache.directory}: {tally.cached} of {tally.files} file(s) came from it"
        coverage.notes.append(note + (f"; not written ({cache.error})" if cache.error else ""))
    if not tally.regions:
        coverage.notes.append(f"no log file under {where}: the trail has delivered nothing there")
        coverage.complete = False
    if tally.unreadable:
        coverage.notes.append(f"{len(tally.unreadable)} unreadable file(s) skipped: {_listing(tally.unreadable)}")
        coverage.complete = False
    if tally.failed:
        coverage.notes.append(f"{len(tally.failed)} file(s) or folder(s) not read: {_listing(tally.failed)}")
        coverage.complete = False
    if tally.bad_records:
        coverage.notes.append(f"{tally.bad_records} record(s) could not be read; skipped")
        coverage.complete = False
    if missing:
        gaps = "; ".join(f"{region} {_ranges(days)}" for region, days in sorted(tally.missing.items()))
        coverage.notes.append(
            f"{missing} missing day folder(s) (no log file that day in a region with files on other days): {gaps}"
        )
        coverage.complete = False
    if tally.duplicates:
        coverage.notes.append(f"{tally.duplicates} duplicate event(s) dropped (the same eventID in two files)")


# --- the trail and its folder ----------------------------------------------------------------------------


def _account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 else ""


def _candidates(trails: list[dict[str, Any]], account: str) -> list[dict[str, Any]]:
    """Trails with a bucket, multi-region first, then the account's own before an organization's."""
    usable = [t for t in trails if t.get("S3BucketName")]
    return sorted(
        usable,
        key=lambda t: (
            not t.get("IsMultiRegionTrail"),
            _account_of(str(t.get("TrailARN", ""))) != account,
            str(t.get("Name", "")),
        ),
    )


def _base(store: Store, trail: dict[str, Any], account: str, notes: list[str]) -> str:
    """`PREFIX/AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/` for the trail."""
    logs = log_prefix(trail.get("S3KeyPrefix") or None)
    if trail.get("IsOrganizationTrail"):
        orgs = [f for f in store.folders(logs) if _ORG_FOLDER.fullmatch(f)]
        if orgs:
            if len(orgs) > 1:
                notes.append(f"{store.label}{logs} holds {len(orgs)} organization folders: read {orgs[0]}")
            return f"{logs}{orgs[0]}/{account}/CloudTrail/"
        name = trail.get("Name")
        notes.append(f"organization trail {name}: no o-… folder under {store.label}{logs}; read {account}/")
    return f"{logs}{account}/CloudTrail/"


def archive_activity(
    ctx: ReadContext,
    window: Window,
    coverage: Coverage,
    *,
    cache_dir: Path | str | None = None,
    processes: int | None = None,
) -> list[Principal]:
    """Per principal, the window's events from the trail's S3 archive, deduplicated on eventID."""
    account = ctx.account.account_id or str(ctx.session.identity().get("Account") or "")
    home = ctx.account.region
    candidates = _candidates(list_trails(ctx, home), account)
    if not candidates:
        raise RemediatorError(
            f"no CloudTrail trail logs this account (DescribeTrails in {home}): there is no archive to read;"
            " --source lookup reads the last 90 days"
        )
    tried: list[str] = []
    found: list[tuple[dict[str, Any], BucketStore, str, list[str], list[str]]] = []
    for trail in candidates:
        store = BucketStore(ctx.client("s3", trail.get("HomeRegion") or home), trail["S3BucketName"])
        notes: list[str] = []
        try:
            base = _base(store, trail, account, notes)
            regions = store.folders(base)
        except AwsError as exc:
            tried.append(f"trail {trail.get('Name')}: cannot list s3://{trail['S3BucketName']}/ ({exc.code})")
            continue
        finally:
            coverage.called(store.calls)
            store.calls = 0
        found.append((trail, store, base, notes, regions))
        if regions:
            break  # the preferred trail with log files; else the preferred one that could be listed
    if not found:
        raise RemediatorError("cannot read any trail's archive: " + "; ".join(tried))
    trail, store, base, notes, regions = found[-1] if found[-1][4] else found[0]
    coverage.notes += tried + notes
    name = trail.get("Name")
    if not trail.get("IsMultiRegionTrail"):
        coverage.notes.append(
            f"trail {name} logs {trail.get('HomeRegion') or home} only: events in other regions are not in its archive"
        )
        coverage.complete = False
    if trail.get("IncludeGlobalServiceEvents") is False:
        coverage.notes.append(f"trail {name} leaves out global service events (IAM, STS): they are not in its archive")
        coverage.complete = False

    root = Path(cache_dir) if cache_dir is not None else CACHE_ROOT / (account or ctx.account.name)
    cache = Cache(root, store.bucket)
    tally = Tally()
    summary = _read(store, base, window, tally, regions=regions, cache=cache, processes=processes)
    coverage.called(store.calls)
    report(tally, coverage, f"{store.label}{base} (trail {name})", cache)
    return summary.principals()


def local_activity(
    root: Path | str,
    account: str,
    window: Window,
    coverage: Coverage | None = None,
    *,
    prefix: str | None = None,
    organization: str | None = None,
    workers: int = 1,
    processes: int | None = None,
) -> list[Principal]:
    """Per principal, the window's events from a local directory laid out like the trail's bucket (`root`
    stands for the bucket: `root/[PREFIX/]AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz`),
    read by the same code as `archive_activity` (without a cache)."""
    store = DirectoryStore(root)
    base = f"{log_prefix(prefix)}{organization + '/' if organization else ''}{account}/CloudTrail/"
    tally = Tally()
    summary = _read(store, base, window, tally, workers=workers, processes=processes)
    if coverage is not None:
        report(tally, coverage, f"{store.label}{base}")
    return summary.principals()
