"""The demo drifted account: what a neglected AWS account looks like, for trying remediator safely.

Weak password policy; users with old and unused access keys; a console user without MFA; roles with
12-hour sessions; a customer policy allowing * on *; a single administrator; no CloudTrail trail.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from remediator.sandbox.server import DEMO_ACCOUNT_ID

ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
ACCOUNT_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{DEMO_ACCOUNT_ID}:root"}, "Action": "sts:AssumeRole"}
    ],
}
FULL_ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
WEAK_PASSWORD_POLICY = {
    "MinimumPasswordLength": 8,
    "RequireSymbols": False,
    "RequireNumbers": True,
    "RequireUppercaseCharacters": False,
    "RequireLowercaseCharacters": True,
    "AllowUsersToChangePassword": True,
}


def iam_client(url: str) -> Any:
    return boto3.client(
        "iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def seed(url: str, now: datetime | None = None) -> None:
    """Create the demo account's drift through the API, then age it on the in-process backend."""
    now = now or datetime.now(UTC)
    iam = iam_client(url)
    iam.update_account_password_policy(**WEAK_PASSWORD_POLICY)

    iam.create_group(GroupName="admins")
    iam.attach_group_policy(GroupName="admins", PolicyArn=ADMIN_POLICY)
    iam.create_group(GroupName="developers")

    for name in ("alice", "bob", "carol", "dave", "svc-deploy"):
        iam.create_user(UserName=name, Tags=[{"Key": "team", "Value": "platform" if name != "svc-deploy" else "ci"}])
    iam.add_user_to_group(GroupName="admins", UserName="alice")
    for name in ("bob", "carol", "dave"):
        iam.add_user_to_group(GroupName="developers", UserName=name)
    iam.create_login_profile(UserName="alice", Password="Demo-Passw0rd!alice")
    iam.create_login_profile(UserName="bob", Password="Demo-Passw0rd!bob")
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice")["VirtualMFADevice"]
    iam.enable_mfa_device(
        UserName="alice",
        SerialNumber=device["SerialNumber"],
        AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )
    keys = {
        name: [iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"] for _ in range(count)]
        for name, count in (("bob", 1), ("carol", 2), ("dave", 1), ("svc-deploy", 1))
    }

    policy = iam.create_policy(
        PolicyName="legacy-full-access", PolicyDocument=json.dumps(FULL_ACCESS), Description="from the first migration"
    )["Policy"]
    for name, trust in (("ci-deploy", EC2_TRUST), ("data-analyst", ACCOUNT_TRUST), ("break-glass", ACCOUNT_TRUST)):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), MaxSessionDuration=43200)
    iam.attach_role_policy(RoleName="ci-deploy", PolicyArn=policy["Arn"])
    iam.attach_role_policy(RoleName="break-glass", PolicyArn=ADMIN_POLICY)

    _age(now, keys)
    _events(now)


def _age(now: datetime, keys: dict[str, list[str]]) -> None:
    """Backdate creation and last-use on moto's in-process backend (the API cannot set them)."""
    from moto.iam.models import AccessKeyLastUsed, iam_backends

    backend = iam_backends[DEMO_ACCOUNT_ID]["global"]
    days = lambda n: now - timedelta(days=n)  # noqa: E731
    created = {"alice": 900, "bob": 400, "carol": 500, "dave": 300, "svc-deploy": 700}
    for name, age in created.items():
        backend.users[name].create_date = days(age)
    backend.users["alice"].password_last_used = days(2)
    backend.users["bob"].password_last_used = days(120)
    key_ages = {  # key id → (created days ago, last used days ago or None)
        keys["bob"][0]: (200, 10),
        keys["carol"][0]: (400, None),
        keys["carol"][1]: (30, 1),
        keys["dave"][0]: (290, 150),
        keys["svc-deploy"][0]: (120, 1),
    }
    for user in backend.users.values():
        for key in user.access_keys:
            if key.access_key_id in key_ages:
                created_days, used_days = key_ages[key.access_key_id]
                key.create_date = days(created_days)
                key.last_used = None if used_days is None else AccessKeyLastUsed(days(used_days), "s3", "us-east-1")
    for name, age, used in (("ci-deploy", 600, 3), ("data-analyst", 400, 200), ("break-glass", 800, None)):
        role = backend.roles[name] if name in backend.roles else backend.get_role(name)
        role.create_date = days(age)
        role.last_used = None if used is None else days(used)
        if used is not None:
            role.last_used_region = "us-east-1"


def _record(
    now: datetime, days: float, source: str, name: str, identity: dict[str, Any], region: str = "us-east-1", **more: Any
) -> dict[str, Any]:
    moment = (now - timedelta(days=days)).replace(microsecond=0)
    return {
        "eventVersion": "1.09",
        "eventID": f"demo-{source.split('.')[0]}-{name}-{int(moment.timestamp())}",
        "eventTime": moment.isoformat().replace("+00:00", "Z"),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "userIdentity": identity,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": DEMO_ACCOUNT_ID,
        **more,
    }


def _user(name: str) -> dict[str, Any]:
    arn = f"arn:aws:iam::{DEMO_ACCOUNT_ID}:user/{name}"
    return {"type": "IAMUser", "arn": arn, "accountId": DEMO_ACCOUNT_ID, "userName": name}


def _session(role: str, session: str) -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "arn": f"arn:aws:sts::{DEMO_ACCOUNT_ID}:assumed-role/{role}/{session}",
        "accountId": DEMO_ACCOUNT_ID,
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{DEMO_ACCOUNT_ID}:role/{role}", "userName": role}
        },
    }


def _events(now: datetime) -> None:
    """A month of the demo account's CloudTrail management events, for `remediator activity`."""
    from remediator.sandbox import shims

    office, laptop = "203.0.113.7", "198.51.100.23"
    us_east = [
        _record(now, 2, "signin.amazonaws.com", "ConsoleLogin", _user("alice"), sourceIPAddress=office),
        _record(now, 2, "iam.amazonaws.com", "ListUsers", _user("alice"), sourceIPAddress=office, readOnly=True),
        _record(now, 2, "iam.amazonaws.com", "GetRole", _user("alice"), sourceIPAddress=office, readOnly=True),
        _record(now, 10, "s3.amazonaws.com", "ListBuckets", _user("bob"), sourceIPAddress=laptop, readOnly=True),
        _record(
            now,
            10,
            "iam.amazonaws.com",
            "CreateRole",
            _user("bob"),
            sourceIPAddress=laptop,
            errorCode="AccessDenied",
            errorMessage=f"User: arn:aws:iam::{DEMO_ACCOUNT_ID}:user/bob is not authorized to perform:"
            f" iam:CreateRole on resource: arn:aws:iam::{DEMO_ACCOUNT_ID}:role/tmp because no identity-based"
            " policy allows the iam:CreateRole action",
        ),  # fmt: skip
        _record(now, 1, "sts.amazonaws.com", "GetCallerIdentity", _user("svc-deploy"), sourceIPAddress="192.0.2.10"),
        _record(
            now,
            3,
            "sts.amazonaws.com",
            "AssumeRole",
            {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
            sourceIPAddress="ec2.amazonaws.com",
            requestParameters={
                "roleArn": f"arn:aws:iam::{DEMO_ACCOUNT_ID}:role/ci-deploy",
                "roleSessionName": "i-0abc",
            },
        ),  # fmt: skip
        _record(
            now,
            5,
            "sts.amazonaws.com",
            "AssumeRole",
            _user("alice"),
            sourceIPAddress=office,
            requestParameters={
                "roleArn": f"arn:aws:iam::{DEMO_ACCOUNT_ID}:role/data-analyst",
                "roleSessionName": "alice-report",
                "durationSeconds": 3600,
            },
        ),  # fmt: skip
        _record(
            now,
            5,
            "iam.amazonaws.com",
            "ListRoles",
            _session("data-analyst", "alice-report"),
            sourceIPAddress=office,
            readOnly=True,
        ),  # fmt: skip
    ]
    eu_west = [
        _record(
            now,
            3,
            "ec2.amazonaws.com",
            "DescribeInstances",
            _session("ci-deploy", "i-0abc"),
            "eu-west-1",
            sourceIPAddress="10.0.1.15",
            readOnly=True,
        ),  # fmt: skip
        _record(
            now,
            3,
            "ec2.amazonaws.com",
            "RunInstances",
            _session("ci-deploy", "i-0abc"),
            "eu-west-1",
            sourceIPAddress="10.0.1.15",
        ),  # fmt: skip
    ]
    shims.add_lookup_events(DEMO_ACCOUNT_ID, "us-east-1", us_east)
    shims.add_lookup_events(DEMO_ACCOUNT_ID, "eu-west-1", eu_west)
