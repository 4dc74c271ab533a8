"""iam_users' typed facts: every user of the plan cases loads into `users.User` and writes back unchanged,
the reader builds the same users from AWS's answers, and the JSON form refuses unknown and missing keys at
every level (the user, its keys, its dependents)."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from remediator.credreport import KeyRow, UserRow
from remediator.errors import AwsError
from remediator.keys import QUARANTINE_POLICY
from remediator.modules.iam_users import QUARANTINE_DOCUMENT, Users
from remediator.timeutil import parse_time
from remediator.users import DEPENDENT_LISTS, Dependents, ReportedKey, User, confirm, read_dependents, read_users

CASES = sorted((Path(__file__).parents[1] / "modules" / "iam_users").glob("*.json"))
ALLOW = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


def case_users() -> list[Any]:
    """Every user of every `current` and `converged_current` of the iam_users plan cases."""
    found = []
    for path in CASES:
        case = json.loads(path.read_text(encoding="utf-8"))
        for part in ("current", "converged_current"):
            for user in (case.get(part) or {}).get("users", []):
                found.append(pytest.param(user, id=f"{path.stem}:{part}:{user['UserName']}"))
    return found


USERS = case_users()


def test_there_are_case_users():
    assert len(USERS) > 10


@pytest.mark.parametrize("data", USERS)
def test_every_case_user_loads_and_writes_back_unchanged(data: dict[str, Any]):
    user = User.from_json(data)
    assert user.to_json() == data
    assert User.from_json(user.to_json()) == user
    assert all(isinstance(k, ReportedKey) for k in user.keys)
    assert user.dependents is None or isinstance(user.dependents, Dependents)


def _when(value: str | None) -> Any:
    return parse_time(value) if value else None


def aws_answers(data: dict[str, Any]) -> Any:
    """A read context answering with what AWS would say of this user: its authorization details entry, its
    credential report row, and the live per-user reads."""
    inline = list(data["InlinePolicies"])
    if data["QuarantinePolicy"] and QUARANTINE_POLICY not in inline:
        inline.append(QUARANTINE_POLICY)
    deny_all = QUARANTINE_DOCUMENT if data["QuarantinePolicy"] else ALLOW
    detail = {
        "UserName": data["UserName"],
        "Arn": data["Arn"],
        "Path": data["Path"],
        "CreateDate": data["CreateDate"],
        "Tags": [{"Key": k, "Value": v} for k, v in data["Tags"].items()],
        "GroupList": list(reversed(data["Groups"])),
        "UserPolicyList": [
            {
                "PolicyName": name,
                "PolicyDocument": deny_all if name == QUARANTINE_POLICY else ALLOW,
            }
            for name in inline
        ],
        "AttachedManagedPolicies": [{"PolicyArn": arn} for arn in data["ManagedPolicies"]],
    }
    row = UserRow(
        user=data["UserName"],
        arn=data["Arn"],
        created=_when(data["CreateDate"]),
        password_enabled=data["Console"],
        password_last_used=_when(data["PasswordLastUsed"]),
        password_last_changed=None,
        mfa_active=data["MfaActive"],
        keys=tuple(
            KeyRow(
                slot=slot,
                active=k["Status"] == "Active",
                last_rotated=_when(k["CreateDate"]),
                last_used=_when(k["LastUsedDate"]),
                last_used_region=None,
                last_used_service=k["LastUsedService"],
            )
            for slot, k in enumerate(data["Keys"], start=1)
        ),
    )
    keys = {k["AccessKeyId"]: k for k in data["Keys"]}
    deps = data["Dependents"] or {name: [] for name in DEPENDENT_LISTS}
    lists = {
        "list_access_keys": (
            "AccessKeyMetadata",
            [{"AccessKeyId": i, "Status": k["Status"], "CreateDate": k["CreateDate"]} for i, k in keys.items()],
        ),
        "list_signing_certificates": ("Certificates", [{"CertificateId": c} for c in deps["SigningCertificates"]]),
        "list_ssh_public_keys": ("SSHPublicKeys", [{"SSHPublicKeyId": k} for k in deps["SSHPublicKeys"]]),
        "list_service_specific_credentials": (
            "ServiceSpecificCredentials",
            [{"ServiceSpecificCredentialId": c} for c in deps["ServiceSpecificCredentials"]],
        ),
        "list_mfa_devices": ("MFADevices", [{"SerialNumber": s} for s in deps["MFADevices"]]),
    }

    def pages(operation: str, UserName: str) -> list[dict[str, Any]]:
        assert UserName == data["UserName"]
        name, items = lists[operation]  # keys in AWS's order; the other lists unsorted: the reader sorts them
        return [{name: items if operation == "list_access_keys" else list(reversed(items))}]

    def call(operation: str, **params: Any) -> dict[str, Any]:
        if operation == "get_access_key_last_used":
            key = keys[params["AccessKeyId"]]
            used = {"LastUsedDate": key["LastUsedDate"], "ServiceName": key["LastUsedService"] or "N/A"}
            return {"AccessKeyLastUsed": {**used, "Region": "N/A"}}
        if operation == "get_user":
            return {"User": {"UserName": data["UserName"], "PasswordLastUsed": data["PasswordLastUsed"]}}
        if operation == "get_login_profile":
            if not data["Console"]:
                raise AwsError(operation, "NoSuchEntity", "no login profile")
            return {"LoginProfile": {"UserName": data["UserName"]}}
        raise AssertionError(f"unexpected call {operation}")

    shared = {"authorization_details": {"UserDetailList": [detail]}, "credential_report": [row]}
    iam = SimpleNamespace(pages=pages, call=call)
    ctx = SimpleNamespace(client=lambda service, region=None: iam)
    ctx.fact = lambda name, load: shared[name] if name in shared else load(ctx)
    return ctx


def as_the_reader_writes(data: dict[str, Any]) -> dict[str, Any]:
    """The case user in the reader's normal form: lists sorted, the quarantine policy among the inline ones
    whenever QuarantinePolicy is true (a few cases leave it out, or list groups or MFA devices unsorted:
    the plan reads neither order nor that name)."""
    inline = set(data["InlinePolicies"]) | ({QUARANTINE_POLICY} if data["QuarantinePolicy"] else set())
    deps = data["Dependents"]
    return {
        **data,
        "Groups": sorted(data["Groups"]),
        "InlinePolicies": sorted(inline),
        "ManagedPolicies": sorted(data["ManagedPolicies"]),
        "Dependents": None if deps is None else {k: sorted(v) for k, v in deps.items()},
    }


@pytest.mark.parametrize("data", USERS)
def test_the_reader_builds_the_case_users(data: dict[str, Any]):
    ctx = aws_answers(data)
    [user] = read_users(ctx)
    assert user.live is False and user.dependents is None and all(k.key_id is None for k in user.keys)
    if data["Live"]:
        user = confirm(ctx, user)
    if data["Dependents"] is not None:
        user = read_dependents(ctx, user)
    assert user.to_json() == as_the_reader_writes(data)
    assert User.from_json(user.to_json()) == user


def test_load_current_builds_users():
    case = json.loads(CASES[0].read_text(encoding="utf-8"))
    current = Users().load_current(case["current"])
    assert current["now"] == case["current"]["now"] and current["own_user"] == case["current"]["own_user"]
    assert all(isinstance(u, User) for u in current["users"])
    assert [u.to_json() for u in current["users"]] == case["current"]["users"]


def test_the_dependent_lists_are_the_fields_of_dependents():
    assert tuple(f.metadata["json"] for f in fields(Dependents)) == DEPENDENT_LISTS


def _a_user_with_everything() -> dict[str, Any]:
    data = next(p.values[0] for p in USERS if p.values[0]["Dependents"] and p.values[0]["Keys"])
    return json.loads(json.dumps(data))


def test_unknown_and_missing_keys_are_refused_at_every_level():
    data = _a_user_with_everything()
    with pytest.raises(ValueError, match=r"User: unknown keys \['Mfa'\]"):
        User.from_json({**data, "Mfa": True})
    with pytest.raises(ValueError, match=r"ReportedKey: unknown keys \['LastUsedRegion'\]"):
        User.from_json({**data, "Keys": [{**data["Keys"][0], "LastUsedRegion": "eu-west-1"}]})
    with pytest.raises(ValueError, match=r"Dependents: unknown keys \['Groups'\]"):
        User.from_json({**data, "Dependents": {**data["Dependents"], "Groups": []}})

    for missing in ("Live", "Dependents", "Keys"):
        with pytest.raises(ValueError, match=rf"User: missing keys \['{missing}'\]"):
            User.from_json({k: v for k, v in data.items() if k != missing})
    key = {k: v for k, v in data["Keys"][0].items() if k != "LastUsedService"}
    with pytest.raises(ValueError, match=r"ReportedKey: missing keys \['LastUsedService'\]"):
        User.from_json({**data, "Keys": [key]})
    deps = {k: v for k, v in data["Dependents"].items() if k != "MFADevices"}
    with pytest.raises(ValueError, match=r"Dependents: missing keys \['MFADevices'\]"):
        User.from_json({**data, "Dependents": deps})
