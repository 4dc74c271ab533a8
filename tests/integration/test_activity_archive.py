"""`remediator activity --source s3`: the trail's log files in the emulator's S3, under AWS's key layout
(`PREFIX/AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz`, gzip'd `{"Records": [...]}`),
read through the CLI. The date in a key is the delivery date: late deliveries, duplicates across files,
digests, junk, events outside the window, organization trails, missing days and the local cache."""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, date, datetime

import boto3
import orjson
import pytest

from tests import events
from tests.conftest import cli, write
from tests.events import ACCOUNT, user

BUCKET = "trail-logs"
PREFIX = "ct"
LOGS = f"{PREFIX}/AWSLogs/{ACCOUNT}/"
# The window (the clock is pinned at 2026-06-01T12:00Z): three days, 10, 11 and 12 May 2026.
SINCE, UNTIL = "2026-05-10T00:00:00Z", "2026-05-13T00:00:00Z"
JANE = f"arn:aws:iam::{ACCOUNT}:user/jane"
DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/ci/deployer"


SESSION = {
    "type": "AssumedRole",
    "principalId": "AROAIN5ATK5U7KEXAMPLE:deploy-42",
    "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/deploy-42",
    "accountId": ACCOUNT,
    "sessionContext": {
        "attributes": {"mfaAuthenticated": "false", "creationDate": "2026-05-10T08:00:00Z"},
        "sessionIssuer": {"type": "Role", "arn": DEPLOYER, "userName": "deployer"},
    },
}


def record(event_id: str, when: str, source: str, name: str, identity: dict, region: str = "us-east-1", **more):
    return events.record(event_id, when, source, name, identity, region, sourceIPAddress="203.0.113.7", **more)


def log_key(logs: str, region: str, day: str, name: str) -> str:
    """A log file's key: the day folder is the delivery date."""
    y, m, d = day.split("-")
    return f"{logs}CloudTrail/{region}/{y}/{m}/{d}/{ACCOUNT}_CloudTrail_{region}_{y}{m}{d}T0000Z_{name}.json.gz"


def put_log(s3, logs: str, region: str, day: str, name: str, records: list[dict]) -> str:
    key = log_key(logs, region, day, name)
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(orjson.dumps({"Records": records})))
    return key


def clients(aws: str):
    s3 = boto3.client("s3", endpoint_url=aws, region_name="us-east-1")
    ct = boto3.client("cloudtrail", endpoint_url=aws, region_name="us-east-1")
    return s3, ct


@pytest.fixture
def trail(aws, iam, pinned_clock):
    """A multi-region trail writing to s3://trail-logs/ct/, users jane and idle, role deployer (under /ci/)."""
    s3, ct = clients(aws)
    s3.create_bucket(Bucket=BUCKET)
    ct.create_trail(Name="main", S3BucketName=BUCKET, S3KeyPrefix=PREFIX, IsMultiRegionTrail=True)
    for name in ("jane", "idle"):
        iam.create_user(UserName=name)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "ec2.amazonaws.com"}}]}  # fmt: skip
    iam.create_role(RoleName="deployer", Path="/ci/", AssumeRolePolicyDocument=json.dumps(trust))
    return s3


def every_day(
    s3, logs: str = LOGS, regions=("us-east-1", "eu-west-1"), days=("2026-05-10", "2026-05-11", "2026-05-12")
):
    """One quiet file per region and day of the window, so no day folder is missing."""
    for region in regions:
        for day in days:
            quiet = record(f"quiet-{region}-{day}", f"{day}T06:00:00Z", "sts.amazonaws.com", "GetCallerIdentity",
                           user("jane"), region)  # fmt: skip
            put_log(s3, logs, region, day, "quiet", [quiet])


def inventory(workdir, aws: str):
    return write(
        workdir, "inv.yml", f"all:\n  accounts:\n    prod: {{endpoint_url: '{aws}', account_id: '{ACCOUNT}'}}\n"
    )


def activity(workdir, aws: str, *more: str, since: str = SINCE, until: str = UNTIL, source: str = "s3"):
    result = cli(
        "activity", "-i", inventory(workdir, aws), "--source", source, "--since", since, "--until", until,
        "--format", "json", *more,
    )  # fmt: skip
    report = json.loads(result.out)["accounts"][0]
    return result, report, {p["arn"]: p for p in report["principals"]}


SUMMARY = re.compile(
    r"(\d+) region\(s\), (\d+) day folder\(s\) each \(.*\), (\d+) file\(s\) read, (\d+) from the cache,"
    r" (\d+) unreadable, (\d+) missing day folder\(s\)"
)


def counts(report: dict) -> dict[str, int]:
    """The numbers of the archive's summary note."""
    note = next(n for n in report["coverage"]["notes"] if n.startswith("archive "))
    match = SUMMARY.search(note)
    assert match, note
    return dict(
        zip(("regions", "days", "files", "cached", "unreadable", "missing"), map(int, match.groups()), strict=True)
    )


def test_the_window_from_the_archive_late_deliveries_duplicates_and_digests(trail, workdir, aws, calls):
    s3 = trail
    every_day(s3)
    put_log(s3, LOGS, "us-east-1", "2026-05-11", "a", [
        record("e1", "2026-05-11T09:00:00Z", "iam.amazonaws.com", "GetUserPolicy", user("jane")),
        record("e2", "2026-05-11T09:05:00Z", "s3.amazonaws.com", "ListBuckets", user("jane")),
        record("dup", "2026-05-11T09:10:00Z", "iam.amazonaws.com", "ListRoles", SESSION),
        record("denied", "2026-05-11T09:15:00Z", "iam.amazonaws.com", "GetRole", user("jane"),
               errorCode="AccessDenied", errorMessage=f"User: {JANE} is not authorized to perform: iam:GetRole on"
               " resource: role deployer because no identity-based policy allows the iam:GetRole action"),
    ])  # fmt: skip
    # The same global event delivered by a second trail to the same folder: counted once.
    put_log(s3, LOGS, "us-east-1", "2026-05-11", "b", [
        record("dup", "2026-05-11T09:10:00Z", "iam.amazonaws.com", "ListRoles", SESSION),
    ])  # fmt: skip
    # Late delivery: an event of 12 May delivered in 13 May's folder (the day after the window) still counts.
    put_log(s3, LOGS, "eu-west-1", "2026-05-13", "late", [
        record("late", "2026-05-12T23:58:00Z", "lambda.amazonaws.com", "CreateFunction20150331", SESSION, "eu-west-1"),
        record("after", "2026-05-13T00:03:00Z", "lambda.amazonaws.com", "GetFunction", SESSION, "eu-west-1"),
    ])  # fmt: skip
    # A file inside the window holding an event from before it: filtered on eventTime, not on the folder.
    put_log(s3, LOGS, "us-east-1", "2026-05-10", "early", [
        record("before", "2026-05-09T23:59:00Z", "iam.amazonaws.com", "DeleteUser", user("jane")),
    ])  # fmt: skip
    # Outside the listed days altogether: never fetched.
    put_log(s3, LOGS, "us-east-1", "2026-05-20", "later", [
        record("later", "2026-05-20T10:00:00Z", "iam.amazonaws.com", "DeleteRole", user("jane")),
    ])  # fmt: skip
    # A digest file: a sibling folder, never listed, never fetched.
    digest_key = f"{LOGS}CloudTrail-Digest/us-east-1/2026/05/11/{ACCOUNT}_CloudTrail-Digest_us-east-1_main.json.gz"
    digest = {"awsAccountId": ACCOUNT, "digestStartTime": "2026-05-11T08:00:00Z", "logFiles": []}
    s3.put_object(Bucket=BUCKET, Key=digest_key, Body=gzip.compress(orjson.dumps(digest)))

    result, report, by = activity(workdir, aws)

    assert result.code == 0, result.out + result.err
    assert report["source"] == "s3" and report["account_id"] == ACCOUNT
    coverage = report["coverage"]
    assert coverage["regions"] == ["eu-west-1", "us-east-1"] and coverage["complete"] is True, coverage
    # 9..13 May listed (one day either side); 6 quiet files, a, b, late and early read; nothing from 20 May
    assert counts(report) == {"regions": 2, "days": 5, "files": 10, "cached": 0, "unreadable": 0, "missing": 0}
    assert any("1 duplicate event(s)" in n for n in coverage["notes"])

    jane = by[JANE]
    assert jane["actions"] == {"iam:GetUserPolicy": 1, "s3:ListAllMyBuckets": 1}  # no DeleteUser, no DeleteRole
    assert jane["events"] == 6 + 3  # 6 quiet GetCallerIdentity, e1, e2, denied
    assert jane["failures"] == [
        {"error_code": "AccessDenied", "action": "iam:GetRole", "count": 1, "last": "2026-05-11T09:15:00Z"}
    ]
    role = by[DEPLOYER]
    assert role["events"] == 2 and role["actions"] == {"iam:ListRoles": 1, "lambda:CreateFunction": 1}
    assert role["last_seen"] == "2026-05-12T23:58:00Z"
    assert report["inactive"] == [f"arn:aws:iam::{ACCOUNT}:user/idle"]

    assert calls.count("GetObject") == 10  # the log files of the listed days; no digest
    assert calls.count("DescribeTrails") == 1
    assert calls.mutating == []


def test_unreadable_files_are_counted_and_the_rest_is_read(trail, workdir, aws):
    s3 = trail
    every_day(s3)
    s3.put_object(Bucket=BUCKET, Key=log_key(LOGS, "us-east-1", "2026-05-11", "junk"), Body=b"<html>not gzip</html>")
    broken = gzip.compress(b'{"Records": [{"eventID": "x", ')
    s3.put_object(Bucket=BUCKET, Key=log_key(LOGS, "us-east-1", "2026-05-11", "broken"), Body=broken)
    s3.put_object(
        Bucket=BUCKET, Key=log_key(LOGS, "us-east-1", "2026-05-11", "norecords"), Body=gzip.compress(b'{"a": 1}')
    )
    put_log(s3, LOGS, "us-east-1", "2026-05-11", "good", [
        record("ok", "2026-05-11T10:00:00Z", "iam.amazonaws.com", "ListUsers", user("jane")),
        record("naive", "2026-05-11T11:00:00", "iam.amazonaws.com", "ListGroups", user("jane")),  # no zone: UTC
        {"eventID": "no-time", "eventName": "ListUsers"},  # a record that cannot be normalised
        record("typed", "2026-05-11T12:00:00Z", 7, "ListRoles", user("jane")),  # a field of another type
    ])  # fmt: skip

    result, report, by = activity(workdir, aws)

    assert result.code == 0, result.out + result.err
    assert "error" not in report
    assert by[JANE]["actions"] == {"iam:ListGroups": 1, "iam:ListUsers": 1}
    assert counts(report)["unreadable"] == 3
    notes = report["coverage"]["notes"]
    unreadable = next(n for n in notes if n.startswith("3 unreadable file(s)"))
    assert "junk" in unreadable and "not gzip" in unreadable
    assert "broken" in unreadable and "not JSON" in unreadable
    assert "norecords" in unreadable and "no Records" in unreadable
    assert any(n.startswith("2 record(s) could not be read") for n in notes)  # the rest of "good" is read
    assert report["coverage"]["complete"] is False  # what could not be read may have held events


def test_an_organization_trail_is_read_under_its_org_folder(aws, iam, pinned_clock, workdir):
    s3, ct = clients(aws)
    s3.create_bucket(Bucket=BUCKET)
    ct.create_trail(
        Name="org", S3BucketName=BUCKET, S3KeyPrefix=PREFIX, IsMultiRegionTrail=True, IsOrganizationTrail=True
    )
    org_logs = f"{PREFIX}/AWSLogs/o-a1b2c3d4e5/{ACCOUNT}/"
    every_day(s3, org_logs, regions=("us-east-1",))
    put_log(s3, org_logs, "us-east-1", "2026-05-11", "org", [
        record("org-1", "2026-05-11T10:00:00Z", "iam.amazonaws.com", "ListPolicies", user("jane")),
    ])  # fmt: skip
    # Another member's folder and a stale folder outside the organization's: neither is read.
    put_log(s3, f"{PREFIX}/AWSLogs/o-a1b2c3d4e5/210987654321/", "us-east-1", "2026-05-11", "other", [
        record("other", "2026-05-11T10:00:00Z", "iam.amazonaws.com", "ListGroups", user("jane")),
    ])  # fmt: skip
    put_log(s3, LOGS, "us-east-1", "2026-05-11", "stale", [
        record("stale", "2026-05-11T10:00:00Z", "iam.amazonaws.com", "ListRoles", user("jane")),
    ])  # fmt: skip

    result, report, by = activity(workdir, aws)

    assert result.code == 0, result.out + result.err
    assert by[JANE]["actions"] == {"iam:ListPolicies": 1}
    assert report["coverage"]["complete"] is True
    assert any(f"s3://{BUCKET}/{org_logs}CloudTrail/" in n for n in report["coverage"]["notes"])


def test_a_missing_day_folder_makes_the_coverage_incomplete(trail, workdir, aws):
    s3 = trail
    every_day(s3, regions=("eu-west-1",))
    every_day(s3, regions=("us-east-1",), days=("2026-05-10", "2026-05-12"))  # nothing on 11 May

    result, report, by = activity(workdir, aws)

    assert result.code == 0, result.out + result.err
    assert report["coverage"]["complete"] is False
    assert counts(report)["missing"] == 1
    assert any(
        n.startswith("1 missing day folder(s)") and "us-east-1 2026-05-11" in n for n in report["coverage"]["notes"]
    )
    assert by[JANE]["events"] == 5  # what is there is still reported


def test_a_second_run_fetches_only_new_files(trail, workdir, aws, calls):
    s3 = trail
    every_day(s3)
    s3.put_object(Bucket=BUCKET, Key=log_key(LOGS, "us-east-1", "2026-05-11", "junk"), Body=b"not gzip")
    put_log(s3, LOGS, "us-east-1", "2026-05-11", "first", [
        record("first", "2026-05-11T10:00:00Z", "iam.amazonaws.com", "ListUsers", user("jane")),
    ])  # fmt: skip

    _, first, by = activity(workdir, aws)
    assert calls.count("GetObject") == 8  # 6 quiet files, the junk and "first"
    assert counts(first)["cached"] == 0 and by[JANE]["actions"] == {"iam:ListUsers": 1}
    cache = workdir / ".remediator" / "cache" / "cloudtrail" / ACCOUNT
    assert len(list(cache.glob("v2/*/*.gz"))) == 8

    put_log(s3, LOGS, "us-east-1", "2026-05-12", "second", [
        record("second", "2026-05-12T10:00:00Z", "iam.amazonaws.com", "ListRoles", user("jane")),
    ])  # fmt: skip
    calls.clear()
    _, second, by = activity(workdir, aws)

    assert calls.count("GetObject") == 1  # the new file only
    assert counts(second)["cached"] == 8 and counts(second)["files"] == 9 and counts(second)["unreadable"] == 1
    assert by[JANE]["actions"] == {"iam:ListUsers": 1, "iam:ListRoles": 1}
    assert any(n.startswith(f"cache {cache.relative_to(workdir)}: 8 of 9") for n in second["coverage"]["notes"])
    assert {k: v for k, v in first.items() if k not in ("coverage", "principals")} == {
        k: v for k, v in second.items() if k not in ("coverage", "principals")
    }

    # A file rewritten in place (a new ETag) is fetched again; the old entry is not used.
    put_log(s3, LOGS, "us-east-1", "2026-05-11", "first", [
        record("first", "2026-05-11T10:00:00Z", "iam.amazonaws.com", "ListGroups", user("jane")),
    ])  # fmt: skip
    calls.clear()
    _, third, by = activity(workdir, aws)
    assert calls.count("GetObject") == 1
    assert by[JANE]["actions"] == {"iam:ListGroups": 1, "iam:ListRoles": 1}


def test_auto_reads_the_archive_for_a_window_200_days_ago(trail, workdir, aws, calls):
    s3 = trail
    days = ("2025-11-13", "2025-11-14")  # about 200 days before the pinned 2026-06-01
    every_day(s3, regions=("us-east-1",), days=days)
    put_log(s3, LOGS, "us-east-1", "2025-11-14", "old", [
        record("old", "2025-11-14T10:00:00Z", "iam.amazonaws.com", "CreateRole", user("jane")),
    ])  # fmt: skip

    result, report, by = activity(workdir, aws, since="2025-11-13", until="2025-11-15", source="auto")

    assert result.code == 0, result.out + result.err
    assert report["source"] == "s3" and report["coverage"]["complete"] is True
    assert by[JANE]["actions"] == {"iam:CreateRole": 1}
    assert calls.count("LookupEvents") == 0


def test_a_multi_region_trail_is_preferred(trail, workdir, aws):
    s3, ct = clients(aws)
    s3.create_bucket(Bucket="aaa-single")
    ct.create_trail(Name="aaa-single", S3BucketName="aaa-single", IsMultiRegionTrail=False)
    s3.put_object(
        Bucket="aaa-single",
        Key=log_key(f"AWSLogs/{ACCOUNT}/", "us-east-1", "2026-05-11", "x"),
        Body=gzip.compress(orjson.dumps({"Records": [
            record("single", "2026-05-11T10:00:00Z", "iam.amazonaws.com", "DeleteUser", user("jane")),
        ]})),
    )  # fmt: skip
    every_day(s3)

    result, report, by = activity(workdir, aws)

    assert result.code == 0, result.out + result.err
    assert "iam:DeleteUser" not in by[JANE]["actions"]
    assert any("(trail main)" in n for n in report["coverage"]["notes"])


def test_an_account_no_trail_logs_is_an_error_on_that_account(aws, iam, pinned_clock, workdir):
    result, report, _ = activity(workdir, aws)

    assert result.code == 1
    assert "no CloudTrail trail logs this account" in report["error"]
    assert report["coverage"]["complete"] is False
    assert "no CloudTrail trail logs this account" in result.err and "Traceback" not in result.err


def test_a_dated_window_is_read_the_same_with_an_explicit_cache_dir(trail, workdir, aws):
    """archive_activity in code: a cache_dir given there holds one entry per log file read."""
    from remediator.aws.context import ReadContext
    from remediator.aws.session import AccountSession
    from remediator.events.activity import Window
    from remediator.events.archive import archive_activity
    from remediator.events.lookup import Coverage
    from remediator.model import Account

    s3 = trail
    every_day(s3, regions=("us-east-1",))
    ctx = ReadContext(AccountSession(Account("prod", ACCOUNT, endpoint_url=aws), read_only=True))
    window = Window(datetime(2026, 5, 10, tzinfo=UTC), datetime(2026, 5, 13, tzinfo=UTC))
    coverage = Coverage()

    principals = archive_activity(ctx, window, coverage, cache_dir=workdir / "elsewhere")

    assert sum(p.events for p in principals) == 3
    assert min(p.first_seen for p in principals).date() == date(2026, 5, 10)
    assert max(p.last_seen for p in principals).date() == date(2026, 5, 12)
    assert coverage.complete and coverage.regions == ["us-east-1"]
    assert len(list((workdir / "elsewhere").glob("v2/*/*.gz"))) == 3  # one log file a day


def test_sub_windows_in_their_own_processes_add_up_to_one_reading(trail, workdir, aws):
    """The window cut in three, each third parsed in its own process: late deliveries, duplicates across
    a cut and events outside the window give the same summary and counts as one process reading it all."""
    from remediator.aws.context import ReadContext
    from remediator.aws.session import AccountSession
    from remediator.events.activity import Window
    from remediator.events.archive import archive_activity
    from remediator.events.lookup import Coverage
    from remediator.model import Account

    s3 = trail
    every_day(s3)
    jane = user("jane")
    put_log(s3, LOGS, "us-east-1", "2026-05-11", "a", [
        record("e1", "2026-05-10T23:59:00Z", "iam.amazonaws.com", "ListUsers", jane),  # late, across a cut
        record("e2", "2026-05-11T08:00:00Z", "s3.amazonaws.com", "ListBuckets", jane),
        record("e0", "2026-05-09T08:00:00Z", "iam.amazonaws.com", "ListRoles", jane),  # before the window
    ])  # fmt: skip
    put_log(s3, LOGS, "us-east-1", "2026-05-12", "b", [
        record("e2", "2026-05-11T08:00:00Z", "s3.amazonaws.com", "ListBuckets", jane),  # copy
        record("e3", "2026-05-12T09:00:00Z", "iam.amazonaws.com", "CreateUser", jane, errorCode="AccessDenied"),
    ])  # fmt: skip
    ctx = ReadContext(AccountSession(Account("prod", ACCOUNT, endpoint_url=aws), read_only=True))
    window = Window(datetime(2026, 5, 10, tzinfo=UTC), datetime(2026, 5, 13, tzinfo=UTC))

    results = {}
    for processes in (1, 3):
        coverage = Coverage()
        principals = archive_activity(ctx, window, coverage, cache_dir=workdir / f"c{processes}", processes=processes)
        notes = [n for n in coverage.notes if not n.startswith("cache ")]  # it names its own folder
        results[processes] = ([p.to_dict() for p in principals], notes, coverage.complete)

    assert results[3] == results[1]
    summaries, notes, complete = results[3]
    by = {p["arn"]: p for p in summaries}
    assert by[JANE]["events"] == 6 + 3  # a quiet event a day in each region, and e1 e2 e3
    assert by[JANE]["actions"] == {"iam:ListUsers": 1, "s3:ListAllMyBuckets": 1}
    assert [f["action"] for f in by[JANE]["failures"]] == ["iam:CreateUser"]
    assert any("1 duplicate event(s) dropped" in n for n in notes) and complete


def test_listings_are_read_page_by_page(trail, workdir, aws, calls, client_hooks):
    """One object a page (AWS pages at 1,000): the region listing and every day folder follow their tokens."""

    def one_a_page(client):
        def smaller(params, **_):
            params["MaxKeys"] = 1

        client.meta.events.register("before-parameter-build.s3.ListObjectsV2", smaller)

    client_hooks.append(one_a_page)
    s3 = trail
    every_day(s3)
    for name in ("p1", "p2", "p3"):
        put_log(s3, LOGS, "us-east-1", "2026-05-11", name, [
            record(name, "2026-05-11T10:00:00Z", "iam.amazonaws.com", "ListUsers", user("jane")),
        ])  # fmt: skip

    result, report, by = activity(workdir, aws)

    assert result.code == 0, result.out + result.err
    assert report["coverage"]["regions"] == ["eu-west-1", "us-east-1"]
    assert by[JANE]["actions"] == {"iam:ListUsers": 3}
    assert counts(report)["files"] == 9 and calls.count("GetObject") == 9
    # 2 pages of regions; 5 days × 2 regions, one page each when empty or of one file, 4 for 11 May in us-east-1
    assert calls.count("ListObjectsV2") == 2 + 10 + 3
