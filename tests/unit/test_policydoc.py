"""policydoc: semantic comparison of policy documents, and the helpers other code relies on."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from remediator import policydoc

BASE = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Read", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"},
        {
            "Effect": "Deny",
            "Action": "ec2:TerminateInstances",
            "Resource": "*",
            "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}},
        },
    ],
}


def variant(**changes):
    doc = json.loads(json.dumps(BASE))
    for index, statement in changes.items():
        doc["Statement"][int(index[1:])] = statement
    return doc


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(json.dumps(BASE), id="json-string"),
        pytest.param(json.dumps(BASE, indent=4), id="whitespace"),
        pytest.param(urllib.parse.quote(json.dumps(BASE)), id="url-encoded"),
        pytest.param({"Statement": BASE["Statement"]}, id="missing-version"),
        pytest.param({**BASE, "Statement": list(reversed(BASE["Statement"]))}, id="statement-order"),
        pytest.param(
            variant(
                s0={"Sid": "Read", "Effect": "Allow", "Action": ["S3:ListBucket", "s3:getobject"], "Resource": ["*"]}
            ),
            id="action-case-and-order-and-resource-list",
        ),
        pytest.param(
            variant(
                s1={
                    "Effect": "Deny",
                    "Action": ["ec2:TerminateInstances"],
                    "Resource": ["*"],
                    "Condition": {"NotIpAddress": {"AWS:SourceIP": ["192.168.0.0/16", "10.0.0.0/8"]}},
                }
            ),
            id="condition-value-order-and-key-case",
        ),
        pytest.param({**BASE, "Statement": [*BASE["Statement"], BASE["Statement"][0]]}, id="duplicate-statement"),
    ],
)
def test_same_meaning_is_equivalent(other):
    assert policydoc.equivalent(BASE, other)
    assert policydoc.canonical_json(BASE) == policydoc.canonical_json(other)


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(variant(s0={**BASE["Statement"][0], "Sid": "Other"}), id="sid"),
        pytest.param(variant(s0={**BASE["Statement"][0], "Effect": "Deny"}), id="effect"),
        pytest.param(variant(s0={**BASE["Statement"][0], "Resource": "arn:aws:s3:::Bucket/*"}), id="resource"),
        pytest.param(
            variant(s0={**BASE["Statement"][1], "Resource": "arn:aws:s3:::bucket/*"}),
            id="statement-replaced",
        ),
        pytest.param({**BASE, "Version": "2008-10-17"}, id="version"),
        pytest.param(
            variant(s1={**BASE["Statement"][1], "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}),
            id="condition-value-removed",
        ),
        pytest.param(
            variant(s0={**{k: v for k, v in BASE["Statement"][0].items() if k != "Action"}, "NotAction": "s3:*"}),
            id="action-vs-notaction",
        ),
    ],
)
def test_different_meaning_is_not_equivalent(other):
    assert not policydoc.equivalent(BASE, other)


def trust(principal):
    return {"Statement": {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}}


def test_principal_forms():
    arn = "arn:aws:iam::123456789012:role/x"
    assert policydoc.equivalent(trust({"AWS": arn}), trust({"AWS": [arn]}))
    assert policydoc.equivalent(trust("*"), trust({"AWS": "*"}))
    assert policydoc.equivalent(trust({"AWS": "123456789012"}), trust({"AWS": "arn:aws:iam::123456789012:root"}))
    both = {"Service": ["lambda.amazonaws.com", "ec2.amazonaws.com"], "AWS": arn}
    assert policydoc.equivalent(
        trust(both), trust({"AWS": [arn], "Service": ["ec2.amazonaws.com", "lambda.amazonaws.com"]})
    )
    assert not policydoc.equivalent(trust({"AWS": arn}), trust({"Service": arn}))


def test_single_statement_object_equals_list():
    statement = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    assert policydoc.equivalent({"Statement": statement}, {"Version": "2012-10-17", "Statement": [statement]})


def test_condition_scalars_compare_as_strings_and_empty_condition_is_none():
    a = {"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:X": False}}}}
    b = {"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:X": ["false"]}}}}
    assert policydoc.equivalent(a, b)
    plain = {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}
    assert policydoc.equivalent(plain, {"Statement": {**plain["Statement"], "Condition": {}}})


def test_normalize_does_not_mutate_its_input():
    doc = json.loads(json.dumps(BASE))
    policydoc.normalize(doc)
    assert doc == BASE


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "valid JSON"),
        ("[1, 2]", "JSON object"),
        (42, "not int"),
        ({"Version": "2012-10-17"}, "no 'Statement'"),
        ({"Statement": []}, "empty"),
        ({"Statement": ["x"]}, "statement 1 is a str"),
        ({"Statement": {"Effect": "Maybe", "Action": "*"}}, "Effect 'Maybe'"),
        ({"Statement": {"Effect": "Allow", "Resource": "*"}}, "Action and NotAction"),
        ({"Version": "2020-01-01", "Statement": {"Effect": "Allow", "Action": "*"}}, "Version"),
        ({"Statement": {"Effect": "Allow", "Action": "*", "Condition": "x"}}, "Condition"),
    ],
)
def test_not_a_policy_raises_one_line_value_error(document, message):
    with pytest.raises(ValueError, match=message) as info:
        policydoc.normalize(document)
    assert "\n" not in str(info.value)


def test_kept_helpers():
    admin = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    assert policydoc.allows_full_admin(json.dumps(admin))
    conditioned = {**admin["Statement"][0], "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}
    assert not policydoc.allows_full_admin({"Statement": [conditioned]})
    assert policydoc.denies_everything({"Statement": {"Effect": "Deny", "Action": "*:*", "Resource": ["*"]}})
    assert policydoc.is_aws_admin_policy("arn:aws:iam::aws:policy/AdministratorAccess")
    assert policydoc.as_list("a") == ["a"] and policydoc.as_list(None) == []
    assert policydoc.parse(urllib.parse.quote(json.dumps(admin))) == admin
    assert len(policydoc.statements(admin)) == 1


def test_size_ignores_whitespace():
    assert (
        policydoc.size(json.dumps(BASE, indent=8))
        == policydoc.size(BASE)
        == len(json.dumps(BASE, separators=(",", ":")))
    )
