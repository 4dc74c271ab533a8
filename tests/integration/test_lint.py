"""The policy lint runs before any AWS call: warnings by default, failures with `lint: error`."""

from __future__ import annotations

from tests.conftest import cli, write

INVENTORY = "all:\n  accounts:\n    test: {endpoint_url: 'http://127.0.0.1:9'}\n"  # nothing must be called

NO_ESCAPE = """\
- tasks:
    - name: office only
      iam_policy:
        name: office-only
        document:
          Version: "2012-10-17"
          Statement:
            - Effect: Deny
              Action: "ec2:*"
              Resource: "*"
              Condition: {NotIpAddress: {"aws:SourceIp": ["203.0.113.0/24"]}}
LINT"""


def test_a_lint_warning_is_shown_and_does_not_stop_validate(workdir, calls):
    write(workdir, "inv.yml", INVENTORY)
    book = write(workdir, "p.yml", NO_ESCAPE.replace("LINT", ""))
    result = cli("validate", book, "-i", "inv.yml")
    assert result.code == 0
    assert "source-ip-without-via-aws-service" in result.err
    assert "p.yml:5" in result.err and "option 'document'" in result.err
    assert calls.records == []


def test_lint_error_fails_the_task_before_any_call(workdir, calls):
    write(workdir, "inv.yml", INVENTORY)
    book = write(workdir, "p.yml", NO_ESCAPE.replace("LINT", "      lint: error\n"))
    result = cli("run", book, "-i", "inv.yml", "--check")
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert len(lines) == 1
    assert "p.yml:5" in lines[0] and "task 'office only'" in lines[0] and "option 'document'" in lines[0]
    assert "lint source-ip-without-via-aws-service" in lines[0]
    assert calls.records == []


def test_what_aws_refuses_fails_even_without_lint_error(workdir, calls):
    write(workdir, "inv.yml", INVENTORY)
    book = write(
        workdir,
        "p.yml",
        """\
- tasks:
    - name: bad principal
      iam_inline_policy:
        role: app
        policy_name: p
        document: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: "*", Action: "s3:*", Resource: "*"}]}
""",
    )
    result = cli("run", book, "-i", "inv.yml", "--check")
    assert result.code == 1
    assert "principal-in-identity-policy" in result.err
    assert calls.records == []


def test_role_trust_policy_without_principal_is_refused(workdir, calls):
    write(workdir, "inv.yml", INVENTORY)
    book = write(
        workdir,
        "p.yml",
        """\
- tasks:
    - name: role
      iam_role:
        name: app
        trust_policy: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "sts:AssumeRole"}]}
""",
    )
    result = cli("validate", book, "-i", "inv.yml")
    assert result.code == 1
    assert "trust-without-principal" in result.err and "option 'trust_policy'" in result.err
    assert calls.records == []
