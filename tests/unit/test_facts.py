"""Typed facts: a plan case cannot hold a shape the reader never returns, and a before-image is built from
the same fields the staleness check reads."""

from __future__ import annotations

import pytest

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
