"""CloudTrail log files → a summary of the window's events: the CPU-bound half of reading a trail's archive.

A `Partition` takes log files (gzip'd `{"Records": [...]}`) in day-folder order, keeps the records of its
window, drops repeated eventIDs and counts the rest by what the summary shows (`summary.Summariser`). It
holds no events: a million-record archive costs its groups (a few thousand) and the eventIDs of the last
few event days.

Parsing is what costs (about 7 µs a record: gunzip, decoding only the fields an Event keeps, `normalise`,
counting), so a long window is cut into whole-day sub-windows, one `Partition` each, every one in its own
process (`RemotePartition`): the files of a day folder next to a cut go to both neighbours, and each keeps
the records of its own sub-window. All copies of an event share its eventTime, so each event is
deduplicated inside exactly one partition, and the partitions' groups add up to the serial result.
This module imports little (no boto3, no catalogue): it is what a partition's process loads.
"""

from __future__ import annotations

import dataclasses
import gc
import gzip
import os
import socket
import subprocess
import sys
import zlib
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import msgspec
import orjson

from remediator.events.record import LOG_FILE, Record, normalise, parse_time, to_record, utc
from remediator.events.summary import Summariser

_HOME = str(Path(__file__).resolve().parents[2])  # where `remediator` is imported from, for the child
DEDUPE_DAYS = 2  # event days kept in the eventID set behind the day folder being read
_DAY = timedelta(days=1)


class Unreadable(Exception):
    """A log file that is not gzip, not JSON, or has no Records."""


def read_log(data: bytes) -> tuple[list[Record], int]:
    """One log file's bytes → (its records, how many could not be read).

    The file is decoded in one go into `record.Record`s; a file with an odd record (a field of another
    type) is decoded again record by record, so only that record is lost."""
    try:
        raw = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise Unreadable(f"not gzip: {type(exc).__name__}") from None
    try:
        return LOG_FILE.decode(raw).Records, 0
    except msgspec.ValidationError:
        return _record_by_record(raw)
    except msgspec.DecodeError:
        raise Unreadable("not JSON") from None


def _record_by_record(raw: bytes) -> tuple[list[Record], int]:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Unreadable("not JSON") from None
    records = document.get("Records") if isinstance(document, dict) else None
    if not isinstance(records, list):
        raise Unreadable("no Records")
    good: list[Record] = []
    bad = 0
    for record in records:
        try:
            good.append(to_record(record))
        except (msgspec.ValidationError, TypeError):
            bad += 1
    return good, bad


@dataclasses.dataclass
class Counts:
    """What a partition saw, for the coverage notes. `records` and `bad_records` are per file key, so
    files read by two partitions (a day folder next to a cut) are counted once when merged."""

    records: dict[str, int] = dataclasses.field(default_factory=dict)  # key → records in the file
    bad_records: dict[str, int] = dataclasses.field(default_factory=dict)
    unreadable: dict[str, str] = dataclasses.field(default_factory=dict)  # key → reason
    events: int = 0  # kept: in the window, first copy
    duplicates: int = 0


# What the summary can tell apart in a raw record: its identity, eventSource, eventName, source address,
# errorCode and errorMessage. Records alike in these normalise to events alike in everything but id and time.
RawKey = tuple[Any, ...]


class Partition:
    """The events of [start, end) from log files given in day-folder order, deduplicated and summarised.

    Per record only its time is read (window, deduplication) and the record counted under its `RawKey`;
    each distinct key is normalised once, at the end (`record.normalise`, as every source's records are),
    and summarised with its count and first and last times. A month of one account is millions of records
    and a few thousand keys."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start = start
        self.end = end
        self.counts = Counts()
        self._groups: dict[RawKey, list[Any]] = {}  # → [count, first time, last time, a record]
        self._seen: dict[date, set[str]] = {}
        self._folder: date | None = None

    def add(self, day: date, key: str, data: bytes) -> None:
        """One log file of the day folder `day` (files come in day order: older eventIDs are forgotten)."""
        if day != self._folder:
            self._folder = day
            for old in [d for d in self._seen if d < day - DEDUPE_DAYS * _DAY]:
                del self._seen[old]
        try:
            records, bad = read_log(data)
        except Unreadable as exc:
            self.counts.unreadable[key] = str(exc)
            return
        self.counts.records[key] = len(records) + bad
        start, end, seen, groups = self.start, self.end, self._seen, self._groups
        kept = duplicates = 0
        for record in records:
            when = record.eventTime
            try:
                moment = utc(when) if type(when) is str else parse_time(when)
            except (ValueError, TypeError, OverflowError):
                bad += 1
                continue
            if not start <= moment < end:
                continue
            event_id = record.eventID
            if event_id:
                ids = seen.get(moment.date())
                if ids is None:
                    ids = seen[moment.date()] = set()
                elif event_id in ids:
                    duplicates += 1
                    continue
                ids.add(event_id)
            kept += 1
            raw = (
                record.userIdentity, record.eventSource, record.eventName, record.sourceIPAddress,
                record.errorCode, record.errorMessage,
            )  # fmt: skip
            group = groups.get(raw)
            if group is None:
                groups[raw] = [1, moment, moment, record]
            else:
                group[0] += 1
                if moment < group[1]:
                    group[1] = moment
                elif moment > group[2]:
                    group[2] = moment
        if bad:
            self.counts.bad_records[key] = bad
        self.counts.events += kept
        self.counts.duplicates += duplicates

    def result(self) -> tuple[Summariser, Counts]:
        summary = Summariser()
        for count, first, last, record in self._groups.values():
            try:
                event = normalise(record)
            except (ValueError, TypeError, AttributeError, OverflowError):
                self.counts.bad_records["(records that could not be attributed)"] = count
                self.counts.events -= count
                continue
            summary.add(event, count, first, last)
        return summary, self.counts


def serve() -> None:
    """A partition's process (`RemotePartition`): files in on stdin, (groups, counts) out on stdout when
    told None. Its objects hold no cycles, so the cyclic collector, which would rescan the eventID sets
    again and again, is off."""
    gc.disable()
    start, end = (datetime.fromisoformat(arg) for arg in sys.argv[1:3])
    incoming = outgoing = Connection(int(sys.argv[3]))
    partition = Partition(start, end)
    try:
        while (message := incoming.recv()) is not None:
            partition.add(*message)
        summary, counts = partition.result()
        outgoing.send(("done", summary.groups, counts))
    except EOFError:
        return  # the reader went away: nothing to answer
    except Exception as exc:  # noqa: BLE001 - told to the reader, which raises it there
        outgoing.send(("error", f"{type(exc).__name__}: {exc}", None))


class RemotePartition:
    """A `Partition` in its own Python process, started with only this module imported (not the CLI,
    boto3 and the rest a spawned multiprocessing child would import again: a tenth of a second, not half
    a second). Files go down its stdin and the summary comes back on its stdout, as pickles over
    `multiprocessing.connection.Connection`; `add` returns once the process has taken the file, so the
    reader holds a file or two per partition."""

    def __init__(self, start: datetime, end: datetime) -> None:
        ours, theirs = socket.socketpair()
        command = [sys.executable, "-c", "from remediator.events.logfiles import serve; serve()"]
        self._process = subprocess.Popen(
            [*command, start.isoformat(), end.isoformat(), str(theirs.fileno())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=[theirs.fileno()],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_HOME, os.environ.get("PYTHONPATH")]))},
        )
        theirs.close()
        self._outgoing = self._incoming = Connection(ours.detach())

    def add(self, day: date, key: str, data: bytes) -> None:
        try:
            self._outgoing.send((day, key, data))
        except OSError:
            raise PartitionFailed(f"an archive reader process stopped{self._why()}") from None

    def result(self) -> tuple[Summariser, Counts]:
        try:
            self._outgoing.send(None)
            status, groups, counts = self._incoming.recv()
        except (EOFError, OSError):
            raise PartitionFailed(f"an archive reader process stopped{self._why()}") from None
        finally:
            self.close()
        if status != "done":
            raise PartitionFailed(f"an archive reader process failed: {groups}")
        summary = Summariser()
        summary.groups = groups
        return summary, counts

    def _why(self) -> str:
        self.close()
        lines = (self._process.stderr.read() if self._process.stderr else b"").decode(errors="replace").splitlines()
        return f" (exit {self._process.returncode}: {lines[-1]})" if lines else f" (exit {self._process.returncode})"

    def close(self) -> None:
        if not self._outgoing.closed:
            self._outgoing.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


class PartitionFailed(Exception):
    """A partition's process died or raised."""


def cuts(start: datetime, end: datetime, parts: int) -> list[datetime]:
    """[start, …, end]: `parts` sub-windows of whole UTC days (the first and last may be partial)."""
    first = start.astimezone(UTC).date()
    days = max(1, ((end - timedelta(microseconds=1)).astimezone(UTC).date() - first).days + 1)
    parts = max(1, min(parts, days))
    midnight = datetime.min.time()
    inner = [datetime.combine(first + timedelta(days=days * i // parts), midnight, UTC) for i in range(1, parts)]
    return [start, *[c for c in inner if start < c < end], end]
