"""The pure pieces of a trail's bucket and of a trail: the policy remediator writes (linted here, since the
emulator accepts any bucket policy), the merge that keeps the bucket's own statements and rules, S3's
naming rules, KMS key forms, and how selectors read as management events."""

from __future__ import annotations

import pytest

from remediator import buckets, policydoc
from remediator.trails import Trail, check_kms_key_id

ARN = "arn:aws:cloudtrail:eu-west-1:123456789012:trail/account-trail"
OWN = {"Sid": "DenyHttp", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::logs/*"}


def test_the_policy_is_cloudtrails_two_statements_scoped_to_the_trail_and_the_accounts_folder():
    acl, put = buckets.cloudtrail_statements("logs", "trail", "123456789012", ARN)
    policydoc.check({"Version": "2012-10-17", "Statement": [acl, put]})
    for statement in (acl, put):
        assert statement["Effect"] == "Allow" and statement["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
        assert statement["Condition"]["StringEquals"]["aws:SourceArn"] == ARN
    assert acl["Action"] == "s3:GetBucketAcl" and acl["Resource"] == "arn:aws:s3:::logs"
    assert put["Action"] == "s3:PutObject"
    assert put["Resource"] == "arn:aws:s3:::logs/trail/AWSLogs/123456789012/*"  # never the whole bucket
    assert put["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"
    _, no_prefix = buckets.cloudtrail_statements("logs", None, "123456789012", ARN)
    assert no_prefix["Resource"] == "arn:aws:s3:::logs/AWSLogs/123456789012/*"
    _, china = buckets.cloudtrail_statements("logs", None, "1", "arn:aws-cn:cloudtrail:cn-north-1:1:trail/t")
    assert china["Resource"].startswith("arn:aws-cn:s3:::")


def test_the_merge_keeps_the_buckets_statements_in_place_and_replaces_only_its_own():
    ours = buckets.cloudtrail_statements("logs", None, "123456789012", ARN)
    live = {
        "Version": "2012-10-17",
        "Id": "keep-me",
        "Statement": [OWN, {**ours[1], "Resource": "arn:aws:s3:::logs/*"}],
    }
    merged = buckets.merged_policy(live, ours)
    assert merged["Id"] == "keep-me" and merged["Statement"][0] is OWN
    assert merged["Statement"][1:] == ours
    assert buckets.merged_policy(merged, ours) == merged  # a second run changes nothing
    assert buckets.merged_policy(None, ours) == {"Version": "2012-10-17", "Statement": ours}
    single = {"Version": "2012-10-17", "Statement": OWN}  # AWS allows one statement without a list
    assert buckets.merged_policy(single, ours)["Statement"] == [OWN, *ours]


def test_the_retention_rule_covers_logs_and_digests_and_keeps_other_rules():
    rule = buckets.retention_rule("trail/", 400)
    assert rule["Filter"] == {"Prefix": "trail/AWSLogs/"} and rule["Expiration"] == {"Days": 400}
    other = {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}}
    assert buckets.merged_rules((other, {**rule, "Expiration": {"Days": 99}}), rule) == [other, rule]


@pytest.mark.parametrize(
    ("rule", "early"),
    [
        ({"ID": "all", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 30}}, True),
        ({"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "AWSLogs/1"}, "Expiration": {"Days": 90}}, True),
        ({"ID": "and", "Status": "Enabled", "Filter": {"And": {"Prefix": "AWS"}}, "Expiration": {"Days": 7}}, True),
        ({"ID": "off", "Status": "Disabled", "Filter": {}, "Expiration": {"Days": 30}}, False),
        ({"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}}, False),
        ({"ID": "long", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 91}}, False),
        ({"ID": "legacy", "Status": "Enabled", "Prefix": "", "Expiration": {"Days": 10}}, True),
    ],
)
def test_rules_that_would_delete_logs_within_90_days(rule, early):
    assert bool(buckets.early_expiries((rule,), None)) is early


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("cloudtrail-123456789012-us-east-1", True),
        ("logs.example.com", True),
        ("ab", False),
        ("Logs", False),
        ("-logs", False),
        ("logs..x", False),
        ("logs.-x", False),
        ("192.168.5.4", False),
        ("xn--logs", False),
        ("logs-s3alias", False),
        ("logs\n", False),
        ("l" * 64, False),
    ],
)
def test_s3_bucket_names(name, ok):
    assert (buckets.check_bucket_name(name) is None) is ok


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d", True),
        ("arn:aws:kms:us-east-1:123456789012:key/mrk-0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d", True),
        ("arn:aws:kms:us-east-1:123456789012:alias/cloudtrail", True),
        ("alias/cloudtrail", True),
        ("0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d", True),
        ("alias/aws/s3", False),  # an AWS managed key: CloudTrail needs a customer managed one
        ("arn:aws:kms:us-east-1:key/oops", False),
        ("cloudtrail", False),
    ],
)
def test_kms_key_forms(key, ok):
    assert (check_kms_key_id(key) is None) is ok


def _trail(selectors, advanced=()):
    return Trail(
        name="t", arn=ARN, home_region="eu-west-1", bucket="logs", prefix=None, multi_region=True,
        global_events=True, log_file_validation=True, kms_key_id=None, organization=False, logging=True,
        event_selectors=tuple(selectors), advanced_event_selectors=tuple(advanced),
    )  # fmt: skip


def test_selectors_read_as_management_events():
    assert _trail([{"ReadWriteType": "All", "IncludeManagementEvents": True}]).management_events() == "all"
    assert _trail([{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}]).management_events() == "write_only"
    data_only = {
        "ReadWriteType": "All",
        "IncludeManagementEvents": False,
        "DataResources": [{"Type": "AWS::S3::Object"}],
    }
    assert _trail([data_only]).management_events() is None
    excluded = {
        "ReadWriteType": "All",
        "IncludeManagementEvents": True,
        "ExcludeManagementEventSources": ["kms.amazonaws.com"],
    }
    assert _trail([excluded]).management_events() is None
    mixed = [{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}, {"ReadWriteType": "WriteOnly"}]
    assert _trail(mixed).management_events() is None
    assert _trail([], advanced=[{"FieldSelectors": []}]).management_events() is None
    assert Trail.from_json(_trail([data_only]).to_json()) == _trail([data_only])
