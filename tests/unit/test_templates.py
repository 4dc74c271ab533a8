"""The condition-scoped policy templates in templates/policies/: each renders to a policy that lints clean."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from remediator import policydoc
from remediator.policylint import lint
from remediator.templating import Renderer, TemplateError
from tests.conftest import REPO

TEMPLATES = REPO / "templates"

CASES = {
    "source-ip-restricted": {"actions": ["ec2:RunInstances", "ec2:TerminateInstances"], "cidrs": ["203.0.113.0/24"]},
    "source-ip-restricted-single-strings": {"actions": "ec2:RunInstances", "cidrs": "203.0.113.0/24"},
    "time-window": {"actions": ["s3:PutObject"], "start": "2026-07-01T00:00:00Z", "end": "2026-07-02T00:00:00Z"},
    "time-window-yaml-datetimes": {
        "actions": ["s3:PutObject"],
        "start": dt.datetime(2026, 7, 1, tzinfo=dt.UTC),
        "end": dt.datetime(2026, 7, 2, tzinfo=dt.UTC),
    },
    "require-mfa": {"actions": ["iam:*", "ec2:TerminateInstances"]},
    "require-mfa-max-age": {"actions": ["iam:*"], "max_age_seconds": 3600},
    "region-restricted": {"regions": ["eu-west-1", "eu-central-1"]},
    "region-restricted-actions": {"regions": ["eu-west-1"], "actions": ["ec2:*", "rds:*"]},
}


TEMPLATE_NAMES = ("source-ip-restricted", "time-window", "require-mfa", "region-restricted")


def render(name: str, variables: dict) -> dict:
    """Render the template a case is named after (`time-window-yaml-datetimes` → time-window.json.j2)."""
    (template,) = [t for t in TEMPLATE_NAMES if name.startswith(t)]
    return Renderer([TEMPLATES]).template(f"policies/{template}.json.j2", variables)


def test_every_template_has_a_case():
    on_disk = {p.name.removesuffix(".json.j2") for p in (TEMPLATES / "policies").glob("*.json.j2")}
    assert on_disk == set(TEMPLATE_NAMES) == {n for n in TEMPLATE_NAMES if any(c.startswith(n) for c in CASES)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_renders_valid_json_that_lints_clean(name):
    document = render(name, CASES[name])
    assert isinstance(document, dict)
    json.dumps(document)  # plain JSON values only
    policydoc.normalize(document)  # a policy document
    assert lint(document, "identity", limit="managed") == []


def conditions(document):
    return [s.get("Condition", {}) for s in document["Statement"]]


def test_source_ip_content():
    document = render("source-ip-restricted", CASES["source-ip-restricted-single-strings"])
    (statement,) = document["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == ["ec2:RunInstances"]
    assert statement["Condition"] == {
        "NotIpAddress": {"aws:SourceIp": ["203.0.113.0/24"]},
        "Bool": {"aws:ViaAWSService": "false"},
    }


def test_time_window_content():
    for name in ("time-window", "time-window-yaml-datetimes"):
        (condition,) = conditions(render(name, CASES[name]))
        assert set(condition) == {"DateGreaterThan", "DateLessThan"}
        assert condition["DateGreaterThan"]["aws:CurrentTime"].startswith("2026-07-01T00:00:00")
        assert condition["DateLessThan"]["aws:CurrentTime"].startswith("2026-07-02T00:00:00")


def test_require_mfa_content():
    (condition,) = conditions(render("require-mfa", CASES["require-mfa"]))
    assert condition == {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}
    with_age = conditions(render("require-mfa", CASES["require-mfa-max-age"]))
    assert {"NumericGreaterThanIfExists": {"aws:MultiFactorAuthAge": "3600"}} in with_age
    assert render("require-mfa", {**CASES["require-mfa"], "max_age_seconds": None}) == render(
        "require-mfa", CASES["require-mfa"]
    )


def test_region_restricted_content():
    (everything,) = render("region-restricted", CASES["region-restricted"])["Statement"]
    assert "iam:*" in everything["NotAction"] and "Action" not in everything
    assert everything["Condition"] == {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]}}
    (some,) = render("region-restricted", CASES["region-restricted-actions"])["Statement"]
    assert some["Action"] == ["ec2:*", "rds:*"] and "NotAction" not in some


def test_missing_variable_is_an_error():
    with pytest.raises(TemplateError, match="undefined"):
        render("source-ip-restricted", {"actions": ["ec2:*"]})


def test_through_a_task_option():
    """As a playbook writes it: template(...) inside an option value."""
    renderer = Renderer([TEMPLATES])
    value = "{{ template('policies/source-ip-restricted.json.j2', actions=['ec2:*'], cidrs=office) }}"
    document = renderer.render(value, {"office": ["198.51.100.0/24"]})
    assert document["Statement"][0]["Condition"]["NotIpAddress"]["aws:SourceIp"] == ["198.51.100.0/24"]
