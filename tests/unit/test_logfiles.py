"""Log files → summaries: the archive's per-raw-record grouping gives what summarising every event gives,
over the identities and fields real records carry (tests/events.py's shapes)."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime

import orjson
import pytest

from remediator.events.logfiles import Partition, RemotePartition, Unreadable, cuts, read_log
from remediator.events.record import normalise
from remediator.events.summary import summarise
from tests.events import ACCOUNT, record, session, user

WIDE = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
DENIED = "User: arn:aws:iam::123456789012:user/jane is not authorized to perform: iam:CreateUser on resource: x"


def samples() -> list[dict]:
    """Users, role sessions (with a sourceIdentity), root, a service, another account; addresses v4, v6 and
    service hosts; a denial; AssumeRole parameters; times with and without a zone."""
    root = {"type": "Root", "arn": f"arn:aws:iam::{ACCOUNT}:root", "accountId": ACCOUNT}
    service = {"type": "AWSService", "invokedBy": "config.amazonaws.com"}
    other = {"type": "AWSAccount", "accountId": "210987654321", "principalId": "AIDAEXAMPLE"}
    deployer = session("deployer", "ci-1", "/ci/")
    deployer["sessionContext"]["sourceIdentity"] = "alice"
    shapes = [
        ("2026-05-01T10:00:00Z", "iam.amazonaws.com", "ListUsers", user("jane"), {"sourceIPAddress": "203.0.113.7"}),
        ("2026-05-01T10:05:00Z", "iam.amazonaws.com", "ListUsers", user("jane"), {"sourceIPAddress": "203.0.113.7"}),
        ("2026-05-02T11:00:00Z", "iam.amazonaws.com", "CreateUser", user("jane"),
         {"sourceIPAddress": "2001:db8::1", "errorCode": "AccessDenied", "errorMessage": DENIED}),
        ("2026-05-02T12:00:00Z", "s3.amazonaws.com", "ListBuckets", deployer, {"sourceIPAddress": "198.51.100.1"}),
        ("2026-05-03T12:00:00Z", "sts.amazonaws.com", "AssumeRole", session("deployer", "ci-2", "/ci/"),
         {"requestParameters": {"roleArn": "arn:aws:iam::123456789012:role/x", "durationSeconds": 7200}}),
        ("2026-05-03T13:00:00", "lambda.amazonaws.com", "CreateFunction20150331", root, {}),
        ("2026-05-04T01:00:00Z", "kms.amazonaws.com", "Decrypt", service, {"sourceIPAddress": "config.amazonaws.com"}),
        ("2026-05-04T02:00:00Z", "iam.amazonaws.com", "GetRole", other,
         {"sourceIPAddress": "192.0.2.9", "errorCode": "NoSuchEntity"}),
    ]  # fmt: skip
    return [record(f"e{n}", when, src, name, who, **more) for n, (when, src, name, who, more) in enumerate(shapes)]


def log(records: list[dict]) -> bytes:
    return gzip.compress(orjson.dumps({"Records": records}))


def test_grouped_raw_records_summarise_like_every_event_normalised():
    records = samples()
    doubled = records + [dict(r, eventID=f"{r['eventID']}-again") for r in records]
    partition = Partition(*WIDE)
    partition.add(date(2020, 1, 1), "a", log(doubled))
    partition.add(date(2020, 1, 1), "b", log(records))  # the same events again: dropped on eventID

    summary, counts = partition.result()

    expected = [p.to_dict() for p in summarise(normalise(r) for r in doubled)]
    assert [p.to_dict() for p in summary.principals()] == expected
    assert len(expected) == 5 and expected[0]["events"] == 6  # jane: 2 uses and a denial, twice
    assert counts.events == len(doubled) and counts.duplicates == len(records)


def test_a_record_of_another_type_is_lost_alone():
    records = samples()[:3]
    odd = dict(records[0], eventID="odd", userIdentity="not an object")
    found, bad = read_log(log([*records, odd]))
    assert [r.eventID for r in found] == [r["eventID"] for r in records] and bad == 1
    with pytest.raises(Unreadable, match="no Records"):
        read_log(gzip.compress(b"[1, 2]"))


def test_a_partition_in_its_own_process_answers_as_in_this_one():
    records = samples()
    local = Partition(*WIDE)
    remote = RemotePartition(*WIDE)
    for partition in (local, remote):
        partition.add(date(2020, 1, 1), "a", log(records))
        partition.add(date(2020, 1, 1), "junk", b"not gzip")
    (mine, my_counts), (theirs, their_counts) = local.result(), remote.result()
    assert [p.to_dict() for p in theirs.principals()] == [p.to_dict() for p in mine.principals()]
    assert their_counts == my_counts and their_counts.unreadable == {"junk": "not gzip: BadGzipFile"}


def test_cuts_are_whole_days():
    start, end = datetime(2026, 1, 1, 12, tzinfo=UTC), datetime(2026, 1, 31, tzinfo=UTC)
    assert cuts(start, end, 2) == [start, datetime(2026, 1, 16, tzinfo=UTC), end]
    assert cuts(start, datetime(2026, 1, 2, tzinfo=UTC), 4) == [start, datetime(2026, 1, 2, tzinfo=UTC)]
