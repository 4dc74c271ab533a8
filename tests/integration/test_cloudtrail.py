"""cloudtrail end to end through the CLI, against the emulator over HTTP: a working trail from nothing,
an existing bucket's own statements and rules kept, updates in place, rollback, accept_existing, another
region, and what AWS answers that the emulator does not (injected)."""

from __future__ import annotations

import json

import boto3
import pytest

from remediator.buckets import RETENTION_RULE_ID
from tests.conftest import cli, write
from tests.faults import Inject, json_error

ACCOUNT = "123456789012"
BUCKET = f"cloudtrail-logs-{ACCOUNT}"
TRAIL = "account-trail"
TASK = f"""\
- tasks:
    - name: Trail
      cloudtrail:
        name: {TRAIL}
        bucket: {BUCKET}
        s3_key_prefix: trail
        retention_days: 365
"""
TRAIL_WRITES = {"CreateTrail", "UpdateTrail", "DeleteTrail", "PutEventSelectors", "StartLogging", "StopLogging"}
OWN_STATEMENT = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
OWN_RULES = [
    {
        "ID": "abort-uploads",
        "Status": "Enabled",
        "Filter": {},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    },
    {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}},
]


def clients(aws: str, region: str = "us-east-1") -> tuple:
    kw = {"endpoint_url": aws, "region_name": region}
    return boto3.client("s3", **kw), boto3.client("cloudtrail", **kw)


def inventory(workdir, aws: str, region: str = "us-east-1"):
    return write(
        workdir, "inventory.yml", f"all:\n  accounts:\n    test: {{endpoint_url: '{aws}', region: {region}}}\n"
    )


def trail_of(ct, name: str = TRAIL) -> dict:
    return next(t for t in ct.describe_trails()["trailList"] if t["Name"] == name)


def policy_of(s3, bucket: str = BUCKET) -> dict:
    return json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])


def test_four_steps_from_nothing(aws, workdir, calls):
    s3, ct = clients(aws)
    inv, book = inventory(workdir, aws), write(workdir, "play.yml", TASK)

    check = cli("run", book, "-i", inv, "--check", "--diff")
    assert check.code == 2, check.out + check.err
    assert calls.mutating == []  # check mode writes nothing, with no bucket there yet
    assert f"test/us-east-1/cloudtrail/trail/{TRAIL}" in check.out
    assert "+ Policy: " in check.out and "+ LifecycleRules: " in check.out  # --diff shows the documents
    assert s3.list_buckets()["Buckets"] == []

    applied = cli("run", book, "-i", inv)
    assert applied.code == 0, applied.out + applied.err
    assert "converged" in applied.out
    trail = trail_of(ct)
    assert trail["S3BucketName"] == BUCKET and trail["S3KeyPrefix"] == "trail"
    assert trail["IsMultiRegionTrail"] and trail["IncludeGlobalServiceEvents"] and trail["LogFileValidationEnabled"]
    assert ct.get_trail_status(Name=TRAIL)["IsLogging"] is True
    blocked = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(blocked.values()) and len(blocked) == 4
    rules = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert rules == [
        {
            "ID": RETENTION_RULE_ID,
            "Status": "Enabled",
            "Filter": {"Prefix": "trail/AWSLogs/"},
            "Expiration": {"Days": 365},
        }
    ]
    writes = [op for _, _, op, _ in calls.records if op in {"PutBucketPolicy", "CreateTrail"}]
    assert writes == ["PutBucketPolicy", "CreateTrail"]  # the policy first: AWS refuses the trail otherwise

    calls.clear()
    again = cli("run", book, "-i", inv)
    assert again.code == 0 and calls.mutating == [], again.out
    assert cli("run", book, "-i", inv, "--check").code == 0


def test_a_compliant_trail_is_checked_in_at_most_ten_calls(aws, workdir, calls):
    inv, book = inventory(workdir, aws), write(workdir, "play.yml", TASK)
    assert cli("run", book, "-i", inv).code == 0
    calls.clear()
    assert cli("run", book, "-i", inv, "--check").code == 0
    assert len(calls.records) <= 10, [op for _, _, op, _ in calls.records]


def test_an_existing_bucket_keeps_its_own_statements_and_rules(aws, workdir, calls):
    s3, ct = clients(aws)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [OWN_STATEMENT]}))
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": OWN_RULES})
    inv, book = inventory(workdir, aws), write(workdir, "play.yml", TASK)
    calls.clear()
    assert cli("run", book, "-i", inv, "--check").code == 2
    assert calls.mutating == []

    applied = cli("run", book, "-i", inv, "--journal", "j.jsonl")

    assert applied.code == 0, applied.out + applied.err
    statements = policy_of(s3)["Statement"]
    assert statements[0] == OWN_STATEMENT  # kept as it was, in its place
    ours = {s["Sid"]: s for s in statements[1:]}
    write_statement = ours["RemediatorCloudTrailWrite"]
    arn = trail_of(ct)["TrailARN"]
    assert write_statement["Resource"] == f"arn:aws:s3:::{BUCKET}/trail/AWSLogs/{ACCOUNT}/*"
    assert write_statement["Condition"]["StringEquals"]["aws:SourceArn"] == arn
    assert ours["RemediatorCloudTrailAclCheck"]["Condition"]["StringEquals"]["aws:SourceArn"] == arn
    rules = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert [r["ID"] for r in rules] == ["abort-uploads", "tmp", RETENTION_RULE_ID]
    assert rules[:2] == OWN_RULES
    calls.clear()
    assert cli("run", book, "-i", inv).code == 0 and calls.mutating == []
    assert cli("run", book, "-i", inv, "--check").code == 0

    undone = cli("rollback", "j.jsonl")
    assert undone.code == 0, undone.out + undone.err
    assert policy_of(s3)["Statement"] == [OWN_STATEMENT]
    assert s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"] == OWN_RULES
    assert trail_of(ct)  # rollback never deletes the trail it created, nor the bucket
    assert f"left in place: test/us-east-1/cloudtrail/trail/{TRAIL}" in undone.out


def test_a_rule_that_expires_logs_early_is_a_finding_and_left_alone(aws, workdir):
    s3, _ = clients(aws)
    s3.create_bucket(Bucket=BUCKET)
    early = {"ID": "purge-everything", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 30}}
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [early]})
    inv, book = inventory(workdir, aws), write(workdir, "play.yml", TASK)

    result = cli("run", book, "-i", inv, "--format", "json")

    assert result.code == 2, result.out + result.err  # applied; the finding stays open
    findings = [f for a in json.loads(result.out)["accounts"] for t in a["tasks"] for f in t["findings"]]
    assert any("purge-everything" in f["message"] and "30 days" in f["message"] for f in findings)
    rules = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert rules[0] == early


def test_an_existing_trail_is_updated_in_place_and_rolled_back(aws, workdir, calls):
    s3, ct = clients(aws)
    s3.create_bucket(Bucket=BUCKET)
    ct.create_trail(Name=TRAIL, S3BucketName=BUCKET, IsMultiRegionTrail=False, EnableLogFileValidation=False)
    ct.put_event_selectors(
        TrailName=TRAIL, EventSelectors=[{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}]
    )
    inv = inventory(workdir, aws)
    book = write(workdir, "play.yml", f"- tasks:\n    - cloudtrail: {{name: {TRAIL}, bucket: {BUCKET}}}\n")

    applied = cli("run", book, "-i", inv, "--journal", "j.jsonl")

    assert applied.code == 0, applied.out + applied.err
    assert "CreateTrail" not in [op for _, _, op, _ in calls.records]
    assert "DeleteTrail" not in [op for _, _, op, _ in calls.records]
    trail = trail_of(ct)
    assert trail["IsMultiRegionTrail"] and trail["LogFileValidationEnabled"]
    assert ct.get_event_selectors(TrailName=TRAIL)["EventSelectors"][0]["ReadWriteType"] == "All"
    assert ct.get_trail_status(Name=TRAIL)["IsLogging"] is True

    undone = cli("rollback", "j.jsonl")
    assert undone.code == 0, undone.out + undone.err
    trail = trail_of(ct)
    assert not trail["IsMultiRegionTrail"] and not trail["LogFileValidationEnabled"]
    assert ct.get_event_selectors(TrailName=TRAIL)["EventSelectors"][0]["ReadWriteType"] == "WriteOnly"
    assert ct.get_trail_status(Name=TRAIL)["IsLogging"] is False
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket=BUCKET)  # the policy it added is gone again


def test_accept_existing_takes_another_trail_that_meets_every_option(aws, workdir, calls):
    s3, ct = clients(aws)
    s3.create_bucket(Bucket="org-trail-logs")
    ct.create_trail(
        Name="org-trail", S3BucketName="org-trail-logs", IsMultiRegionTrail=True, IncludeGlobalServiceEvents=True,
        EnableLogFileValidation=True,
    )  # fmt: skip
    ct.start_logging(Name="org-trail")
    inv = inventory(workdir, aws)
    book = write(
        workdir, "play.yml", f"- tasks:\n    - cloudtrail: {{name: {TRAIL}, bucket: {BUCKET}, accept_existing: true}}\n"
    )

    result = cli("run", book, "-i", inv)

    assert result.code == 0, result.out + result.err
    assert "org-trail" in result.out and "accept_existing" in result.out
    assert calls.mutating == []
    assert [t["Name"] for t in ct.describe_trails()["trailList"]] == ["org-trail"]


def test_a_trail_that_falls_short_is_not_accepted(aws, workdir):
    s3, ct = clients(aws)
    s3.create_bucket(Bucket="org-trail-logs")
    ct.create_trail(Name="org-trail", S3BucketName="org-trail-logs", IsMultiRegionTrail=True)  # no validation
    inv = inventory(workdir, aws)
    book = write(
        workdir, "play.yml", f"- tasks:\n    - cloudtrail: {{name: {TRAIL}, bucket: {BUCKET}, accept_existing: true}}\n"
    )
    assert cli("run", book, "-i", inv).code == 0
    assert sorted(t["Name"] for t in ct.describe_trails()["trailList"]) == [TRAIL, "org-trail"]


def test_an_account_outside_us_east_1(aws, workdir):
    region = "eu-west-1"
    s3, ct = clients(aws, region)
    inv, book = inventory(workdir, aws, region), write(workdir, "play.yml", TASK)

    applied = cli("run", book, "-i", inv)

    assert applied.code == 0, applied.out + applied.err
    assert f"test/{region}/cloudtrail/" in applied.out
    assert s3.get_bucket_location(Bucket=BUCKET)["LocationConstraint"] == region
    assert trail_of(ct)["HomeRegion"] == region
    assert cli("run", book, "-i", inv, "--check").code == 0


def test_state_absent_deletes_the_trail_only(aws, workdir):
    inv = inventory(workdir, aws)
    assert cli("run", write(workdir, "play.yml", TASK), "-i", inv).code == 0
    s3, ct = clients(aws)
    book = write(
        workdir, "absent.yml", f"- tasks:\n    - cloudtrail: {{name: {TRAIL}, bucket: {BUCKET}, state: absent}}\n"
    )

    check = cli("run", book, "-i", inv, "--check")
    assert check.code == 2 and "cannot be undone" in check.out
    assert cli("run", book, "-i", inv).code == 0
    assert ct.describe_trails()["trailList"] == []
    assert s3.head_bucket(Bucket=BUCKET)  # the bucket and its logs stay


def test_the_message_when_aws_refuses_the_trail_for_its_bucket_policy(aws, workdir, client_hooks):
    refused = Inject(
        "cloudtrail",
        "CreateTrail",
        lambda: json_error(
            "InsufficientS3BucketPolicyException",
            f"Incorrect S3 bucket policy is detected for bucket: {BUCKET}",
        ),
    )
    client_hooks.append(refused)
    inv, book = inventory(workdir, aws), write(workdir, "play.yml", TASK)

    result = cli("run", book, "-i", inv)

    assert result.code == 1
    assert refused.seen > 1  # waited for the new policy to propagate before giving up
    assert "InsufficientS3BucketPolicyException" in result.err and "bucket policy" in result.err


def test_a_delivery_error_aws_reports_is_a_finding(aws, workdir, client_hooks):
    inv, book = inventory(workdir, aws), write(workdir, "play.yml", TASK)
    assert cli("run", book, "-i", inv).code == 0

    def failing_delivery(client):
        def after(parsed, **_):
            parsed["LatestDeliveryError"] = "AccessDenied"

        client.meta.events.register("after-call.cloudtrail.GetTrailStatus", after)

    client_hooks.append(failing_delivery)
    result = cli("run", book, "-i", inv, "--check", "--format", "json")

    assert result.code == 2
    findings = [f for a in json.loads(result.out)["accounts"] for t in a["tasks"] for f in t["findings"]]
    assert any("AccessDenied" in f["message"] and f["severity"] == "high" for f in findings)
    assert any("CIS v3.0 3.1" in f["controls"] for f in findings)


def test_an_organization_trail_seen_from_a_member_account_is_accepted(aws, workdir, calls, client_hooks):
    """A member account lists its organization's trail (a shadow trail) but cannot read its status."""
    org_arn = "arn:aws:cloudtrail:us-east-1:999999999999:trail/org-trail"

    def member_view(client):
        def after(parsed, **_):
            parsed.setdefault("trailList", []).append(
                {
                    "Name": "org-trail", "TrailARN": org_arn, "HomeRegion": "us-east-1",
                    "S3BucketName": "org-logs-999999999999", "IsMultiRegionTrail": True,
                    "IncludeGlobalServiceEvents": True, "LogFileValidationEnabled": True,
                    "IsOrganizationTrail": True, "HasCustomEventSelectors": False,
                }
            )  # fmt: skip

        client.meta.events.register("after-call.cloudtrail.DescribeTrails", after)

    client_hooks.append(member_view)
    inv = inventory(workdir, aws)
    book = write(
        workdir, "play.yml", f"- tasks:\n    - cloudtrail: {{name: {TRAIL}, bucket: {BUCKET}, accept_existing: true}}\n"
    )

    result = cli("run", book, "-i", inv)

    assert result.code == 0, result.out + result.err
    assert f"organization trail {org_arn}" in result.out and "management account" in result.out
    assert calls.mutating == []
    without = write(workdir, "strict.yml", f"- tasks:\n    - cloudtrail: {{name: {TRAIL}, bucket: {BUCKET}}}\n")
    assert cli("run", without, "-i", inv, "--check").code == 2  # without accept_existing: its own trail


def test_a_kms_alias_is_resolved_and_the_trail_encrypted_with_it(aws, workdir):
    kms = boto3.client("kms", endpoint_url=aws, region_name="us-east-1")
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/cloudtrail", TargetKeyId=key["KeyId"])
    _, ct = clients(aws)
    inv = inventory(workdir, aws)
    book = write(
        workdir, "play.yml",
        f"- tasks:\n    - cloudtrail: {{name: {TRAIL}, bucket: {BUCKET}, kms_key_id: alias/cloudtrail}}\n",
    )  # fmt: skip

    assert cli("run", book, "-i", inv).code == 0
    assert trail_of(ct)["KmsKeyId"] == key["Arn"]  # AWS answers with the key's ARN whatever it was given
    assert cli("run", book, "-i", inv, "--check").code == 0  # the alias and the key's ARN are one key
