"""The LookupEvents source: management events of the last 90 days, region by region.

AWS's rules, which the emulator does not enforce and these reads keep anyway:

- at most one `LookupAttributes` entry per call, `MaxResults` at most 50, and a `NextToken` is only good
  with the same parameters it came with (so each page repeats them);
- two calls per second per account per region: each region reads under its own token bucket, and a
  `ThrottlingException` is retried (the one retry policy), never fatal;
- IAM, STS and console sign-in events are recorded in us-east-1, other services' in their own region:
  every enabled region is read, in parallel.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from remediator.aws.context import ReadContext
from remediator.errors import AwsError
from remediator.events.record import Event, from_lookup

log = logging.getLogger("remediator.events")

PAGE_SIZE = 50  # LookupEvents' largest page
CALLS_PER_SECOND = 2.0  # per account, per region
WINDOW_DAYS = 90  # how far back LookupEvents reaches
GLOBAL_REGION = "us-east-1"  # where IAM, STS and sign-in events are recorded


class TokenBucket:
    """At most `rate` calls a second on average, bursts of up to `rate`; thread-safe."""

    def __init__(self, rate: float = CALLS_PER_SECOND) -> None:
        self.rate = rate
        self.tokens = rate
        self.updated = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                time.sleep((1 - self.tokens) / self.rate)


@dataclass
class Coverage:
    """What was read, so nobody mistakes a gap for inactivity."""

    regions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    complete: bool = True
    calls: int = 0
    # Where progress goes on a long run (the CLI's stderr on a terminal); None: nowhere.
    progress: Callable[[str], None] | None = field(default=None, repr=False, compare=False)

    retries: dict[tuple[str, str], int] = field(default_factory=dict)  # (region, error code) → retries
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def called(self, n: int = 1) -> None:
        """Count calls; regions are read in parallel threads, so counters change under a lock."""
        with self._lock:
            self.calls += n

    def retried(self, region: str, code: str) -> None:
        with self._lock:
            self.retries[(region, code)] = self.retries.get((region, code), 0) + 1

    def retry_notes(self) -> list[str]:
        """'us-east-1: 2 look-up(s) retried after ThrottlingException' (nothing was lost: they were retried)."""
        return [f"{region}: {n} look-up(s) retried after {code}" for (region, code), n in sorted(self.retries.items())]

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)


def enabled_regions(ctx: ReadContext, coverage: Coverage) -> list[str]:
    """The account's enabled regions (DescribeRegions); the home region and us-east-1 when denied."""
    try:
        answer = ctx.client("ec2", ctx.account.region).call("describe_regions", AllRegions=False)
        regions = sorted(r["RegionName"] for r in answer.get("Regions", []))
    except AwsError as exc:
        coverage.notes.append(
            f"could not list the enabled regions ({exc.code}): read {ctx.account.region} and {GLOBAL_REGION} only"
        )
        coverage.complete = False
        regions = sorted({ctx.account.region, GLOBAL_REGION})
    return regions or [ctx.account.region]


def lookup_events(
    ctx: ReadContext,
    start: datetime,
    end: datetime,
    coverage: Coverage,
    *,
    attribute: dict[str, str] | None = None,
    regions: list[str] | None = None,
) -> list[Event]:
    """Every management event between start and end in the given (default: every enabled) region,
    deduplicated on eventID. One LookupAttribute at most (AWS refuses more)."""
    regions = regions if regions is not None else enabled_regions(ctx, coverage)
    coverage.regions = list(regions)
    seen: set[str] = set()
    events: list[Event] = []
    lock = threading.Lock()

    def read(region: str) -> None:
        found = list(_region_events(ctx, region, start, end, attribute, coverage))
        coverage.say(f"{ctx.account.name}: {region}: {len(found)} event(s)")
        with lock:
            for event in found:
                if event.event_id and event.event_id in seen:
                    continue
                seen.add(event.event_id)
                events.append(event)

    with ThreadPoolExecutor(max_workers=min(8, max(1, len(regions)))) as pool:
        for future in [pool.submit(read, region) for region in regions]:
            future.result()
    coverage.notes += coverage.retry_notes()
    events.sort(key=lambda e: e.time)
    return events


def _region_events(
    ctx: ReadContext,
    region: str,
    start: datetime,
    end: datetime,
    attribute: dict[str, str] | None,
    coverage: Coverage,
) -> Iterator[Event]:
    bucket = TokenBucket()
    params: dict[str, Any] = {"StartTime": start, "EndTime": end, "MaxResults": PAGE_SIZE}
    if attribute:
        params["LookupAttributes"] = [attribute]
    client = ctx.client("cloudtrail", region)
    token = None
    while True:
        bucket.take()
        page = client.call_counting_retries(
            "lookup_events",
            lambda code: coverage.retried(region, code),
            **params,
            **({"NextToken": token} if token else {}),
        )
        coverage.called()
        for raw in page.get("Events", []):
            try:
                yield from_lookup(raw)
            except (ValueError, TypeError) as exc:
                coverage.notes.append(f"{region}: an event could not be read ({type(exc).__name__}); skipped")
        token = page.get("NextToken")
        if not token:
            return
