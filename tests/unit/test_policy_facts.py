"""iam_policy's typed facts: the reader and the JSON form (plan cases) agree, and the JSON form refuses
unknown and missing keys at every level."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from remediator.policies import ManagedPolicy, PolicyFacts, policy_from_detail, read_policy

ARN = "arn:aws:iam::123456789012:policy/app-read"
DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
DETAIL = {
    "PolicyName": "app-read",
    "Arn": ARN,
    "Path": "/",
    "Description": "read the app bucket",
    "DefaultVersionId": "v2",
    "PolicyVersionList": [
        {"VersionId": "v1", "IsDefaultVersion": False, "CreateDate": datetime(2026, 1, 1, tzinfo=UTC), "Document": DOC},
        {"VersionId": "v2", "IsDefaultVersion": True, "CreateDate": "2026-01-02T00:00Z", "Document": json.dumps(DOC)},
    ],
}
DETAILS = {
    "Policies": [DETAIL],
    "UserDetailList": [
        {"UserName": "bob", "AttachedManagedPolicies": [{"PolicyArn": ARN}]},
        {"UserName": "alice", "AttachedManagedPolicies": []},
    ],
    "GroupDetailList": [],
    "RoleDetailList": [{"RoleName": "app", "AttachedManagedPolicies": [{"PolicyArn": ARN, "PolicyName": "app-read"}]}],
}
CASES = sorted((Path(__file__).parents[1] / "modules" / "iam_policy").glob("*.json"))


def fake_ctx(planned: tuple[str, ...] = ()) -> Any:
    """Just what `read_policy` touches: the shared authorization details, the caller, planned entities."""
    return SimpleNamespace(
        fact=lambda name, load: DETAILS if name == "authorization_details" else pytest.fail(f"unexpected {name}"),
        session=SimpleNamespace(identity=lambda: {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:root"}),
        will_exist=lambda kind, name: f"{kind}:{name}" in planned,
    )


def test_the_reader_and_the_json_form_agree():
    policy = policy_from_detail(DETAIL)
    assert ManagedPolicy.from_json(policy.to_json()) == policy
    assert [v.create_date for v in policy.versions] == ["2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"]
    assert policy.default_version is not None and policy.default_version.document == DOC

    facts = read_policy(fake_ctx(("user:carol",)), "app-read", attach_to={"users": ["alice", "carol", "dave"]})
    assert PolicyFacts.from_json(facts.to_json()) == facts
    assert facts.to_json()["attached"] == {"users": ["bob"], "groups": [], "roles": ["app"]}
    assert facts.entities.users == ("alice", "carol")  # dave neither exists nor is planned


def test_a_missing_policy_gets_the_arn_it_would_be_created_with():
    facts = read_policy(fake_ctx(), "new-one", path="/team/")
    assert facts.policy is None and facts.arn == "arn:aws:iam::123456789012:policy/team/new-one"
    assert PolicyFacts.from_json(facts.to_json()) == facts
    assert read_policy(fake_ctx(), "new-one", absent=True).arn == ""


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_every_plan_case_is_in_the_json_form(path: Path):
    case = json.loads(path.read_text(encoding="utf-8"))
    for current in (case["current"], case.get("converged_current")):
        if current is not None:
            assert PolicyFacts.from_json(current).to_json() == current


def test_unknown_and_missing_keys_are_refused():
    data = read_policy(fake_ctx(), "app-read").to_json()
    with pytest.raises(ValueError, match="PolicyFacts: unknown keys \\['attach'\\]"):
        PolicyFacts.from_json({**data, "attach": {}})
    with pytest.raises(ValueError, match="ManagedPolicy: unknown keys \\['Tags'\\]"):
        PolicyFacts.from_json({**data, "policy": {**data["policy"], "Tags": {}}})
    version = {**data["policy"]["Versions"][0], "IsDefault": True}
    with pytest.raises(ValueError, match="PolicyVersion: unknown keys \\['IsDefault'\\]"):
        PolicyFacts.from_json({**data, "policy": {**data["policy"], "Versions": [version]}})
    with pytest.raises(ValueError, match="EntityNames: missing keys \\['roles'\\]"):
        PolicyFacts.from_json({**data, "attached": {"users": [], "groups": []}})
    policy = dict(data["policy"])
    del policy["DefaultVersionId"]
    with pytest.raises(ValueError, match="ManagedPolicy: missing keys \\['DefaultVersionId'\\]"):
        PolicyFacts.from_json({**data, "policy": policy})
    del data["entities"]
    with pytest.raises(ValueError, match="PolicyFacts: missing keys \\['entities'\\]"):
        PolicyFacts.from_json(data)


def test_the_live_state_and_its_images():
    policy = policy_from_detail(DETAIL)
    assert policy.state() == {
        "Arn": ARN,
        "Path": "/",
        "Description": "read the app bucket",
        "DefaultVersionId": "v2",
        "Document": DOC,
        "VersionIds": ["v1", "v2"],
    }
    image = policy.state_image("DefaultVersionId", "VersionIds")
    assert image == {"DefaultVersionId": "v2", "VersionIds": ["v1", "v2"]}
    with pytest.raises(KeyError):
        policy.state_image("Versions")
    assert policy.non_default_version_ids() == ["v1"]
