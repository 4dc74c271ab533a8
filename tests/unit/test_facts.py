"""Typed facts: a plan case cannot hold a shape the reader never returns, and a before-image is built from
the same fields the staleness check reads."""

from __future__ import annotations

import pytest

from remediator.keys import AccessKey, KeyHolder
from remediator.roles import Role, merge_role

LISTED = {
    "RoleName": "app",
    "RoleId": "AROAAPP",
    "Arn": "arn:aws:iam::123456789012:role/app",
    "Path": "/",
    "CreateDate": "2025-01-01T00:00:00+00:00",
    "MaxSessionDuration": 7200,
    "Description": "the app",
}
DETAIL = {
    **LISTED,
    "AssumeRolePolicyDocument": '{"Version": "2012-10-17", "Statement": []}',
    "InstanceProfileList": [{"InstanceProfileName": "app"}],
    "RolePolicyList": [{"PolicyName": "read", "PolicyDocument": {"Version": "2012-10-17", "Statement": []}}],
    "AttachedManagedPolicies": [{"PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess", "PolicyName": "RO"}],
    "Tags": [{"Key": "team", "Value": "platform"}],
    "RoleLastUsed": {"LastUsedDate": "2026-05-01T00:00:00+00:00", "Region": "eu-west-1"},
}


def test_the_reader_and_the_json_form_agree():
    role = merge_role(LISTED, DETAIL)
    assert Role.from_json(role.to_json()) == role
    assert role.instance_profiles == ("app",) and role.to_json()["InstanceProfiles"] == ["app"]
    assert role.last_used_region == "eu-west-1" and role.tags == {"team": "platform"}


def test_unknown_and_missing_keys_are_refused():
    data = merge_role(LISTED, DETAIL).to_json()
    with pytest.raises(ValueError, match="unknown keys \\['MaxSession'\\]"):
        Role.from_json({**data, "MaxSession": 1})
    del data["Tags"]
    with pytest.raises(ValueError, match="missing keys \\['Tags'\\]"):
        Role.from_json(data)


def test_an_image_names_real_fields_only():
    role = merge_role(LISTED, DETAIL)
    assert role.image("MaxSessionDuration", "Description") == {"MaxSessionDuration": 7200, "Description": "the app"}
    with pytest.raises(KeyError):
        role.image("MaxSession")


def test_identity_center_and_service_linked_roles_are_aws_managed():
    role = merge_role(LISTED, DETAIL)
    assert not role.aws_managed
    for path in ("/aws-reserved/sso.amazonaws.com/", "/aws-service-role/support.amazonaws.com/"):
        assert Role.from_json({**role.to_json(), "Path": path}).aws_managed


HOLDER = {
    "UserName": "bob",
    "DeactivatedKeys": {"AKIABOBOLD0000000001": "2026-01-01"},
    "Keys": [
        {
            "AccessKeyId": "AKIABOBOLD0000000001",
            "Status": "Inactive",
            "CreateDate": "2025-01-01T00:00:00+00:00",
            "LastUsedDate": None,
            "LastUsedService": None,
            "LastUsedRegion": None,
            "LastUsedSource": "GetAccessKeyLastUsed",
        },
        {
            "AccessKeyId": "AKIABOBNEW0000000002",
            "Status": "Active",
            "CreateDate": "2026-01-01T00:00:00+00:00",
            "LastUsedDate": "2026-05-31T00:00:00+00:00",
            "LastUsedService": "s3",
            "LastUsedRegion": "eu-west-1",
            "LastUsedSource": "credential report",
        },
    ],
}


def test_nested_facts_are_built_and_written_back():
    holder = KeyHolder.from_json(HOLDER)
    assert all(isinstance(k, AccessKey) for k in holder.keys) and isinstance(holder.keys, tuple)
    assert holder.keys[1].last_used_region == "eu-west-1" and not holder.keys[0].active
    assert holder.to_json() == HOLDER
    assert KeyHolder.from_json(holder.to_json()) == holder
    assert holder.image("Keys")["Keys"][0] == HOLDER["Keys"][0]
    assert holder.find("AKIABOBNEW0000000002") is holder.keys[1] and holder.find("AKIAOTHER") is None


def test_nested_facts_refuse_unknown_and_missing_keys():
    bad = {**HOLDER, "Keys": [{**HOLDER["Keys"][0], "LastUsed": None}]}
    with pytest.raises(ValueError, match="AccessKey: unknown keys \\['LastUsed'\\]"):
        KeyHolder.from_json(bad)
    key = {k: v for k, v in HOLDER["Keys"][0].items() if k != "Status"}
    with pytest.raises(ValueError, match="AccessKey: missing keys \\['Status'\\]"):
        KeyHolder.from_json({**HOLDER, "Keys": [key]})


def test_last_use_is_optional_in_a_key_and_defaults_to_not_read():
    key = AccessKey.from_json({"AccessKeyId": "AKIA1", "Status": "Active", "CreateDate": None})
    assert key == AccessKey.listed({"AccessKeyId": "AKIA1", "Status": "Active", "CreateDate": None})
    assert key.last_used_source is None and key.to_json()["LastUsedDate"] is None
