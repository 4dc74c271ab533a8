"""Later tasks may refer to what earlier tasks of the same run create: planned, shown, applied in order."""

from __future__ import annotations

from tests.conftest import cli, write, write_inventory

BOOK = """\
- tasks:
    - name: app role
      iam_role:
        name: app
        trust_policy:
          Version: "2012-10-17"
          Statement: [{Effect: Allow, Principal: {Service: ec2.amazonaws.com}, Action: "sts:AssumeRole"}]
    - name: app policy
      iam_policy:
        name: app-s3
        document: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:GetObject", Resource: "*"}]}
        attach_to: {roles: [app]}
    - name: app inline
      iam_inline_policy:
        role: app
        policy_name: logs
        document: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "logs:PutLogEvents", Resource: "*"}]}
    - name: worker role using the new policy
      iam_role:
        name: worker
        trust_policy:
          Version: "2012-10-17"
          Statement: [{Effect: Allow, Principal: {Service: ec2.amazonaws.com}, Action: "sts:AssumeRole"}]
        managed_policies: [app-s3]
"""


def test_check_then_apply_a_chain_of_new_entities(iam, aws, workdir, calls):
    inv, book = write_inventory(workdir, aws), write(workdir, "p.yml", BOOK)
    check = cli("run", book, "-i", inv, "--check")
    assert check.code == 2, check.out + check.err
    assert "failed" not in check.out.split("RECAP")[0]
    assert calls.mutating == []

    applied = cli("run", book, "-i", inv)
    assert applied.code == 0, applied.out + applied.err
    assert "converged" in applied.out
    attached = iam.list_attached_role_policies(RoleName="app")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["app-s3"]
    assert iam.list_role_policies(RoleName="app")["PolicyNames"] == ["logs"]
    worker = iam.list_attached_role_policies(RoleName="worker")["AttachedPolicies"]
    assert [p["PolicyName"] for p in worker] == ["app-s3"]

    calls.clear()
    again = cli("run", book, "-i", inv, "--check")
    assert again.code == 0, again.out
    assert calls.mutating == []


def test_a_reference_to_nothing_still_fails_clearly(iam, aws, workdir, calls):
    inv = write_inventory(workdir, aws)
    book = write(workdir, "p.yml", "\n".join(BOOK.splitlines()[7:12]).replace("    - name", "- tasks:\n    - name", 1))
    result = cli("run", book, "-i", inv, "--check")
    assert result.code == 1
    assert "no such role" in result.out
    assert calls.mutating == []
