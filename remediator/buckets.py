"""S3 buckets as the `cloudtrail` module needs them: the `Bucket` fact, its one reader, and the pure
pieces of a trail's bucket (CloudTrail's policy statements merged into the bucket's own, the retention
rule beside the bucket's own lifecycle rules, S3's naming rules).

`PutBucketPolicy` and `PutBucketLifecycleConfiguration` replace the whole document, so both are
read-modify-write: every statement and rule remediator does not own is written back exactly as it was
read.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any

from remediator.aws.context import ReadContext
from remediator.errors import AwsError
from remediator.facts import Fact, key

RETENTION_RULE_ID = "remediator-cloudtrail-retention"
ACL_CHECK_SID = "RemediatorCloudTrailAclCheck"
WRITE_SID = "RemediatorCloudTrailWrite"
CLOUDTRAIL_PRINCIPAL = {"Service": "cloudtrail.amazonaws.com"}
BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
MIN_RETENTION_DAYS = 91  # CloudTrail's event history already keeps 90 days: a trail is for longer

_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", re.ASCII)
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


@dataclass(frozen=True)
class Bucket(Fact):
    """One bucket: where it is, and the three documents a trail's bucket needs right."""

    name: str = field(metadata=key("Name"))
    region: str = field(metadata=key("Region"))
    policy: dict[str, Any] | None = field(metadata=key("Policy"))  # None: the bucket has no policy
    lifecycle_rules: tuple[dict[str, Any], ...] | None = field(metadata=key("LifecycleRules"))  # None: none set
    public_access_block: dict[str, bool] | None = field(metadata=key("PublicAccessBlock"))  # None: none set


def check_bucket_name(name: Any) -> str | None:
    """S3's rules for a general purpose bucket name, or None when S3 accepts it."""
    rule = "S3 allows 3–63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"
    if not isinstance(name, str) or not _BUCKET_NAME.fullmatch(name):
        return f"bucket name {name!r}: {rule}"
    if ".." in name or ".-" in name or "-." in name:
        return f"bucket name {name!r}: no two adjacent dots, and no dot next to a hyphen"
    try:
        ipaddress.IPv4Address(name)
        return f"bucket name {name!r} looks like an IP address, which S3 refuses"
    except ValueError:
        pass
    if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        return f"bucket name {name!r} uses a prefix or suffix S3 reserves"
    return None


def read_bucket(ctx: ReadContext, name: str) -> Bucket | None:
    """The bucket, or None when it does not exist. Four calls: its region, then policy, lifecycle and
    public access block from that region."""

    def load(ctx: ReadContext) -> Bucket | None:
        try:
            location = ctx.client("s3").call("get_bucket_location", Bucket=name).get("LocationConstraint")
        except AwsError as exc:
            if exc.code == "NoSuchBucket":
                return None
            raise
        region = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)
        s3 = ctx.client("s3", region)
        policy = _absent_as_none(lambda: json.loads(s3.call("get_bucket_policy", Bucket=name)["Policy"]),
                                 "NoSuchBucketPolicy")  # fmt: skip
        rules = _absent_as_none(
            lambda: tuple(s3.call("get_bucket_lifecycle_configuration", Bucket=name).get("Rules", [])),
            "NoSuchLifecycleConfiguration",
        )
        block = _absent_as_none(
            lambda: dict(s3.call("get_public_access_block", Bucket=name)["PublicAccessBlockConfiguration"]),
            "NoSuchPublicAccessBlockConfiguration",
        )
        return Bucket(name=name, region=region, policy=policy, lifecycle_rules=rules, public_access_block=block)

    return ctx.fact(f"bucket:{name}", load)


def _absent_as_none(read: Any, code: str) -> Any:
    try:
        return read()
    except AwsError as exc:
        if exc.code == code:
            return None
        raise


# --- the bucket policy ------------------------------------------------------------------------------------


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def log_prefix(prefix: str | None) -> str:
    """Where CloudTrail writes under the bucket: `PREFIX/AWSLogs/` (`AWSLogs/` without a prefix)."""
    return f"{prefix.rstrip('/')}/AWSLogs/" if prefix else "AWSLogs/"


def cloudtrail_statements(bucket: str, prefix: str | None, account_id: str, trail_arn: str) -> list[dict[str, Any]]:
    """CloudTrail's two statements, scoped to the one trail (aws:SourceArn) and PutObject to its own
    account's log folder, as AWS's CloudTrail guide gives them."""
    partition = trail_arn.split(":", 2)[1] if trail_arn.count(":") >= 2 else "aws"
    source = {"aws:SourceArn": trail_arn}
    return [
        {
            "Sid": ACL_CHECK_SID,
            "Effect": "Allow",
            "Principal": dict(CLOUDTRAIL_PRINCIPAL),
            "Action": "s3:GetBucketAcl",
            "Resource": f"arn:{partition}:s3:::{bucket}",
            "Condition": {"StringEquals": dict(source)},
        },
        {
            "Sid": WRITE_SID,
            "Effect": "Allow",
            "Principal": dict(CLOUDTRAIL_PRINCIPAL),
            "Action": "s3:PutObject",
            "Resource": f"arn:{partition}:s3:::{bucket}/{log_prefix(prefix)}{account_id}/*",
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **source}},
        },
    ]


def merged_policy(live: dict[str, Any] | None, ours: list[dict[str, Any]]) -> dict[str, Any]:
    """The bucket's policy with CloudTrail's statements in it: every other statement kept as it was read,
    in its place; ours replace earlier versions of themselves (by Sid) or go at the end."""
    mine = {s["Sid"]: s for s in ours}
    base = dict(live) if live else {"Version": "2012-10-17"}
    statements = live.get("Statement", []) if live else []
    statements = statements if isinstance(statements, list) else [statements]
    kept = [s for s in statements if not (isinstance(s, dict) and s.get("Sid") in mine)]
    return {**base, "Statement": [*kept, *ours]}


# --- the lifecycle rule --------------------------------------------------------------------------------


def retention_rule(prefix: str | None, days: int) -> dict[str, Any]:
    return {
        "ID": RETENTION_RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": log_prefix(prefix)},
        "Expiration": {"Days": days},
    }


def merged_rules(live: tuple[dict[str, Any], ...] | None, ours: dict[str, Any]) -> list[dict[str, Any]]:
    """The bucket's lifecycle rules with the retention rule in it: every other rule kept as it was read."""
    kept = [r for r in (live or ()) if r.get("ID") != RETENTION_RULE_ID]
    return [*kept, ours]


def rule_prefix(rule: dict[str, Any]) -> str:
    """The key prefix a lifecycle rule applies to ("" for the whole bucket)."""
    rule_filter = rule.get("Filter") or {}
    if "Prefix" in rule_filter:
        return str(rule_filter["Prefix"] or "")
    if "And" in rule_filter:
        return str((rule_filter["And"] or {}).get("Prefix") or "")
    return str(rule.get("Prefix") or "")


def early_expiries(rules: tuple[dict[str, Any], ...] | None, prefix: str | None) -> list[tuple[str, int]]:
    """Other enabled rules that would delete trail logs within 90 days: (rule ID, days)."""
    logs = log_prefix(prefix)
    found = []
    for rule in rules or ():
        if rule.get("ID") == RETENTION_RULE_ID or rule.get("Status") != "Enabled":
            continue
        days = (rule.get("Expiration") or {}).get("Days")
        scope = rule_prefix(rule)
        overlaps = logs.startswith(scope) or scope.startswith(logs)
        if isinstance(days, int) and days < MIN_RETENTION_DAYS and overlaps:
            found.append((str(rule.get("ID") or "(no ID)"), days))
    return found
