"""policylint: each rule both firing and staying quiet."""

from __future__ import annotations

import json

import pytest

from remediator import policydoc
from remediator.policylint import OPERATORS, SIZE_LIMITS, LintIssue, lint


def doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def stmt(effect="Allow", action="s3:GetObject", resource="*", **extra):
    return {"Effect": effect, "Action": action, "Resource": resource, **extra}


def trust_stmt(**extra):
    return {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole", **extra}


def codes(issues):
    return [i.code for i in issues]


SOURCE_IP = {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8"]}}

# (code, kind, document that fires the rule, a near-identical document that does not)
CASES = {
    "source-ip-without-via-aws-service": (
        "identity",
        doc(stmt("Deny", "ec2:*", Condition=SOURCE_IP)),
        doc(stmt("Deny", "ec2:*", Condition={**SOURCE_IP, "Bool": {"aws:ViaAWSService": "false"}})),
    ),
    "source-ip-via-aws-service-true-is-no-escape": (
        "identity",
        doc(stmt("Deny", "ec2:*", Condition={**SOURCE_IP, "Bool": {"aws:ViaAWSService": "true"}})),
        doc(stmt("Deny", "ec2:*", Condition={**SOURCE_IP, "BoolIfExists": {"aws:ViaAWSService": False}})),
    ),
    "source-ip-allow-is-not-the-trap": (
        "identity",
        doc(stmt("Deny", "ec2:*", Condition={"NotIpAddress": {"AWS:SOURCEIP": "10.0.0.0/8"}})),
        doc(stmt("Allow", "ec2:*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})),
    ),
    "mfa-without-if-exists": (
        "identity",
        doc(stmt("Deny", "*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}})),
        doc(stmt("Deny", "*", Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}})),
    ),
    "mfa-age-without-if-exists": (
        "identity",
        doc(stmt("Deny", "*", Condition={"NumericGreaterThan": {"aws:MultiFactorAuthAge": "3600"}})),
        doc(stmt("Deny", "*", Condition={"NumericGreaterThanIfExists": {"aws:MultiFactorAuthAge": "3600"}})),
    ),
    "mfa-bool-in-allow-is-safe": (
        "identity",
        doc(stmt("Deny", "*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}})),
        doc(stmt("Allow", "*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})),
    ),
    "allow-not-action": (
        "identity",
        doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
        doc({"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"}),
    ),
    "empty-condition": (
        "identity",
        doc(stmt(Condition={})),
        doc(stmt(Condition={"StringEquals": {"aws:PrincipalTag/team": "ops"}})),
    ),
    "empty-condition-block": (
        "identity",
        doc(stmt(Condition={"StringEquals": {}})),
        doc(stmt()),
    ),
    "unknown-condition-operator": (
        "identity",
        doc(stmt(Condition={"StringEqualz": {"aws:username": "x"}})),
        doc(stmt(Condition={"ForAnyValue:StringLikeIfExists": {"aws:TagKeys": "x*"}})),
    ),
    "principal-in-identity-policy": (
        "identity",
        doc(stmt(Principal={"AWS": "arn:aws:iam::123456789012:root"})),
        doc(stmt()),
    ),
    "not-principal-in-identity-policy": (
        "identity",
        doc(stmt("Deny", NotPrincipal={"AWS": "arn:aws:iam::123456789012:root"})),
        doc(stmt("Deny")),
    ),
    "trust-without-principal": (
        "trust",
        doc({"Effect": "Allow", "Action": "sts:AssumeRole"}),
        doc(trust_stmt()),
    ),
}
EXPECTED_CODE = {
    "source-ip-via-aws-service-true-is-no-escape": "source-ip-without-via-aws-service",
    "source-ip-allow-is-not-the-trap": "source-ip-without-via-aws-service",
    "mfa-age-without-if-exists": "mfa-without-if-exists",
    "mfa-bool-in-allow-is-safe": "mfa-without-if-exists",
    "empty-condition-block": "empty-condition",
    "not-principal-in-identity-policy": "principal-in-identity-policy",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_fires(name):
    kind, bad, _ = CASES[name]
    issues = lint(bad, kind)
    assert codes(issues) == [EXPECTED_CODE.get(name, name)], issues
    assert all(isinstance(i, LintIssue) and i.severity in ("warning", "error") for i in issues)
    assert "statement 1" in issues[0].message


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_stays_quiet(name):
    kind, _, good = CASES[name]
    assert lint(good, kind) == []
    assert lint(json.dumps(good), kind) == []  # a JSON string is linted the same


def test_severities():
    assert lint(CASES["principal-in-identity-policy"][1], "identity")[0].severity == "error"
    assert lint(CASES["trust-without-principal"][1], "trust")[0].severity == "error"
    assert lint(CASES["unknown-condition-operator"][1], "identity")[0].severity == "error"
    assert lint(CASES["allow-not-action"][1], "identity")[0].severity == "warning"


def test_misspelled_case_of_a_known_operator_is_a_warning_naming_it():
    (issue,) = lint(doc(stmt(Condition={"stringequals": {"aws:username": "x"}})), "identity")
    assert issue.code == "unknown-condition-operator" and issue.severity == "warning"
    assert "'StringEquals'" in issue.message


def test_every_documented_operator_is_known():
    for op in ("Null", "BinaryEquals", "ArnNotLikeIfExists", "ForAllValues:StringEquals", "DateLessThanEquals"):
        assert op in OPERATORS
    assert "NullIfExists" not in OPERATORS


def test_lint_issue_is_frozen():
    issue = LintIssue("x", "y", "warning")
    with pytest.raises(AttributeError):
        issue.code = "z"  # type: ignore[misc]


def test_sid_is_named_in_the_message():
    (issue,) = lint(doc(stmt(Sid="Office", Condition={})), "identity")
    assert "statement 1 (Office)" in issue.message


def padded(characters):
    """An identity policy of exactly `characters` characters without whitespace."""
    base = doc(stmt(resource="arn:aws:s3:::b/"))
    pad = characters - policydoc.size(base)
    return doc(stmt(resource="arn:aws:s3:::b/" + "x" * pad))


@pytest.mark.parametrize(
    ("limit", "chars"),
    [("managed", 6144), ("role_inline", 10240), ("user_inline", 2048), ("group_inline", 5120), (3000, 3000)],
)
def test_size_limits(limit, chars):
    at_limit, over = padded(chars), padded(chars + 1)
    assert policydoc.size(at_limit) == chars
    assert lint(at_limit, "identity", limit=limit) == []
    issues = lint(over, "identity", limit=limit)
    assert codes(issues) == ["size-limit"] and issues[0].severity == "error"
    assert f"{chars:,}" in issues[0].message


def test_size_is_measured_without_whitespace():
    at_limit = padded(SIZE_LIMITS["managed"])
    assert lint(json.dumps(at_limit, indent=8), "identity", limit="managed") == []


def test_size_default_limits():
    assert lint(padded(SIZE_LIMITS["managed"] + 1), "identity") == []  # fits a role's inline policies
    assert codes(lint(padded(SIZE_LIMITS["role_inline"] + 1), "identity")) == ["size-limit"]
    big_trust = doc(trust_stmt(Condition={"StringEquals": {"sts:ExternalId": "x" * 2100}}))
    assert codes(lint(big_trust, "trust")) == ["size-limit"]


def test_not_a_policy_is_one_error():
    (issue,) = lint("{not json", "identity")
    assert issue.code == "invalid-document" and issue.severity == "error"


def test_bad_kind_and_limit_raise():
    with pytest.raises(ValueError, match="kind"):
        lint(doc(stmt()), "resource")
    with pytest.raises(ValueError, match="size limit"):
        lint(doc(stmt()), "identity", limit="huge")


def test_several_issues_in_one_document():
    bad = doc(
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*", "Condition": {}},
        stmt("Deny", "*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}}),
    )
    assert sorted(codes(lint(bad, "identity"))) == ["allow-not-action", "empty-condition", "mfa-without-if-exists"]
