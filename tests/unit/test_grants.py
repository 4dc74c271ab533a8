"""remediator.grants: what identity policies allow, action by action, as IAM judges actions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from remediator import grants
from remediator.events import actions

ACCOUNT = "123456789012"
CUSTOMER = f"arn:aws:iam::{ACCOUNT}:policy/custom"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/boundary"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, **more: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": "*", **more}


def deny(action: Any, **more: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": "*", **more}


def deny_not(*patterns: str) -> dict[str, Any]:
    return {"Effect": "Deny", "NotAction": list(patterns), "Resource": "*"}


def user(*inline: dict[str, Any], **fields: Any) -> grants.Entity:
    policies = {f"p{i}": d for i, d in enumerate(inline)}
    return grants.Entity("user", "alice", f"arn:aws:iam::{ACCOUNT}:user/alice", inline_policies=policies, **fields)


def held(entity: grants.Entity, groups: Any = (), documents: dict[str, Any] | None = None) -> set[str]:
    grant = grants.granted(entity, groups, documents or {})
    assert grant.missing == ()
    return set(grant.actions)


def test_plain_actions_take_the_catalogues_spelling():
    assert held(user(doc(allow(["IAM:getrole", "iam:ListRoles"])))) == {"iam:GetRole", "iam:ListRoles"}


def test_wildcards_are_expanded_against_the_catalogue():
    got = held(user(doc(allow("s3:Get*"))))
    assert got == set(actions.expand("s3:Get*"))
    assert "s3:GetObject" in got and "s3:PutObject" not in got
    assert held(user(doc(allow("iam:Get?ole")))) == {"iam:GetRole"}
    assert held(user(doc(allow("*")))) == set(actions.expand("*"))


def test_actions_the_catalogue_does_not_know_are_kept_as_written():
    got = held(user(doc(allow(["newservice:DoThing", "other:*", "iam:GetRole"]))))
    assert got == {"newservice:DoThing", "other:*", "iam:GetRole"}


def test_not_action_allows_the_complement():
    got = held(user(doc({"Effect": "Allow", "NotAction": ["iam:*", "s3:Delete*"], "Resource": "*"})))
    assert got == set(actions.expand("*")) - set(actions.expand("iam:*")) - set(actions.expand("s3:Delete*"))
    assert "s3:GetObject" in got and "iam:GetRole" not in got and "s3:DeleteBucket" not in got


def test_conditions_on_allow_still_grant():
    conditional = allow("iam:GetRole", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})
    assert held(user(doc(conditional))) == {"iam:GetRole"}


def test_an_unconditional_deny_removes():
    assert held(user(doc(allow("iam:*"), deny("iam:Delete*")))) == set(actions.expand("iam:*")) - set(
        actions.expand("iam:Delete*")
    )
    # A deny in another policy of the same principal counts too, and case does not matter.
    assert held(user(doc(allow(["iam:GetRole", "iam:ListRoles"])), doc(deny("IAM:LISTROLES")))) == {"iam:GetRole"}


def test_a_deny_all_leaves_nothing():
    assert held(user(doc(allow("*")), doc(deny("*")))) == set()
    assert held(user(doc(allow(["newservice:DoThing"])), doc(deny("*")))) == set()


def test_a_conditional_deny_does_not_remove():
    conditional = deny("iam:ListRoles", Condition={"Bool": {"aws:SecureTransport": "false"}})
    assert held(user(doc(allow(["iam:GetRole", "iam:ListRoles"])), doc(conditional))) == {
        "iam:GetRole",
        "iam:ListRoles",
    }


def test_a_deny_on_some_resources_only_does_not_remove():
    narrow = {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::secrets/*"}
    everywhere_but = {"Effect": "Deny", "Action": "s3:PutObject", "NotResource": "arn:aws:s3:::scratch/*"}
    got = held(user(doc(allow(["s3:GetObject", "s3:PutObject"]), narrow, everywhere_but)))
    assert got == {"s3:GetObject", "s3:PutObject"}


def test_a_deny_with_not_action_removes_everything_else():
    got = held(user(doc(allow(["iam:GetRole", "iam:ListRoles", "s3:GetObject"])), doc(deny_not("iam:Get*"))))
    assert got == {"iam:GetRole"}


def test_the_boundary_intersects():
    entity = user(doc(allow(["iam:GetRole", "iam:ListRoles", "s3:GetObject"])), permissions_boundary=BOUNDARY)
    documents = {BOUNDARY: doc(allow(["iam:Get*", "s3:*"]))}
    assert held(entity, documents=documents) == {"iam:GetRole", "s3:GetObject"}


def test_the_boundarys_own_denies_and_conditions():
    entity = user(doc(allow(["iam:GetRole", "iam:ListRoles", "s3:GetObject"])), permissions_boundary=BOUNDARY)
    documents = {
        BOUNDARY: doc(
            allow("*"),
            deny("s3:*"),
            deny("iam:ListRoles", Condition={"Bool": {"aws:ViaAWSService": "false"}}),  # may not apply: kept
        )
    }
    assert held(entity, documents=documents) == {"iam:GetRole", "iam:ListRoles"}
    not_action = {BOUNDARY: doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})}
    assert held(entity, documents=not_action) == {"s3:GetObject"}


def test_an_unreadable_boundary_leaves_the_grant_incomplete():
    entity = user(doc(allow("iam:GetRole")), permissions_boundary=BOUNDARY)
    grant = grants.granted(entity, (), {})
    assert grant.actions == {"iam:GetRole"} and grant.missing == (BOUNDARY,)


def test_groups_managed_policies_and_their_denies_reach_members():
    group = grants.Entity(
        "group",
        "readers",
        f"arn:aws:iam::{ACCOUNT}:group/readers",
        inline_policies={"deny-list": doc(deny("iam:ListRoles"))},
        managed_policies=(CUSTOMER,),
    )
    other = grants.Entity(
        "group", "others", f"arn:aws:iam::{ACCOUNT}:group/others", inline_policies={"x": doc(allow("ec2:*"))}
    )
    member = user(doc(allow("iam:ListRoles")), groups=("readers",))
    documents = {CUSTOMER: doc(allow(["iam:GetRole", "s3:GetObject"]))}
    assert held(member, [group, other], documents) == {"iam:GetRole", "s3:GetObject"}
    assert held(user(doc(allow("iam:ListRoles"))), [group, other], documents) == {"iam:ListRoles"}  # no member


def test_a_managed_policy_not_at_hand_is_named_missing():
    entity = user(doc(allow("iam:GetRole")), managed_policies=(READ_ONLY,))
    grant = grants.granted(entity, (), {})
    assert grant.actions == {"iam:GetRole"} and grant.missing == (READ_ONLY,)
    read_only = doc(allow(["iam:Get*", "iam:List*"]))
    assert held(entity, documents={READ_ONLY: read_only}) == set(actions.expand("iam:Get*")) | set(
        actions.expand("iam:List*")
    )


def test_an_unreadable_inline_document_is_missing_not_fatal():
    entity = grants.Entity("role", "r", f"arn:aws:iam::{ACCOUNT}:role/r", inline_policies={"bad": "{not json"})
    grant = grants.granted(entity, (), {})
    assert grant.actions == frozenset() and grant.missing == ("inline bad",)


def test_json_string_documents_are_read():
    assert held(user('{"Statement": {"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"}}')) == {"iam:GetRole"}


def test_entities_from_authorization_details():
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    details = {
        "UserDetailList": [
            {
                "UserName": "alice",
                "Arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
                "Path": "/",
                "CreateDate": created,
                "GroupList": ["readers"],
                "UserPolicyList": [{"PolicyName": "own", "PolicyDocument": doc(allow("iam:GetRole"))}],
                "AttachedManagedPolicies": [{"PolicyName": "ReadOnlyAccess", "PolicyArn": READ_ONLY}],
                "PermissionsBoundary": {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": BOUNDARY},
            }
        ],
        "RoleDetailList": [
            {
                "RoleName": "AWSServiceRoleForSupport",
                "Arn": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/support.amazonaws.com/AWSServiceRoleForSupport",
                "Path": "/aws-service-role/support.amazonaws.com/",
                "RolePolicyList": [],
                "AttachedManagedPolicies": [],
            }
        ],
        "GroupDetailList": [
            {
                "GroupName": "readers",
                "Arn": f"arn:aws:iam::{ACCOUNT}:group/readers",
                "GroupPolicyList": [],
                "AttachedManagedPolicies": [{"PolicyName": "custom", "PolicyArn": CUSTOMER}],
            }
        ],
        "Policies": [
            {
                "Arn": CUSTOMER,
                "PolicyVersionList": [
                    {"VersionId": "v1", "IsDefaultVersion": False, "Document": doc(allow("ec2:*"))},
                    {"VersionId": "v2", "IsDefaultVersion": True, "Document": doc(allow("s3:GetObject"))},
                ],
            }
        ],
    }
    principals, groups = grants.entities(details)
    alice, service = principals
    assert alice.kind == "user" and alice.groups == ("readers",) and alice.managed_policies == (READ_ONLY,)
    assert alice.permissions_boundary == BOUNDARY and alice.create_date == "2026-01-02T03:04:05+00:00"
    assert alice.inline_policies == {"own": doc(allow("iam:GetRole"))} and not alice.aws_managed
    assert service.aws_managed
    assert [g.name for g in groups] == ["readers"] and groups[0].permissions_boundary == ""
    assert grants.customer_documents(details) == {CUSTOMER: doc(allow("s3:GetObject"))}
    assert grants.policies_of(alice, {g.name: g for g in groups}) == [READ_ONLY, CUSTOMER, BOUNDARY]
    assert grants.Entity.from_json(alice.to_json()) == alice  # the JSON form plan cases give


@pytest.mark.parametrize(
    ("arn", "aws"),
    [
        (READ_ONLY, True),
        ("arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess", True),
        ("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole", True),
        (CUSTOMER, False),
    ],
)
def test_aws_managed_policies_by_arn(arn, aws):
    assert grants.is_aws_managed_policy(arn) is aws
