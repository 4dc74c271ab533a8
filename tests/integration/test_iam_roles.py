"""iam_roles (the sweep) end to end through the CLI, against the emulator over HTTP."""

from __future__ import annotations

import json

import pytest

from tests.conftest import cli, write, write_inventory
from tests.emulator import DENY, age_role, make_role, populated_role, role_names
from tests.faults import RoleDeleteConflict
from tests.pages import truncate

CAP = "- tasks:\n    - name: cap\n      iam_roles: {max_session_duration: 3600, exclude: [keep-*]}\n"
pytestmark = pytest.mark.usefixtures("pinned_clock")  # "now" is one instant for the product and the test


def sessions(iam):
    return {r["RoleName"]: r["MaxSessionDuration"] for r in iam.list_roles()["Roles"]}


def test_four_steps_cap_lowers_and_never_raises(iam, aws, workdir, calls):
    make_role(iam, "long", MaxSessionDuration=43200, Description="kept")
    make_role(iam, "short", MaxSessionDuration=3600)
    make_role(iam, "keep-long", MaxSessionDuration=43200)
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", CAP)

    first = cli("run", book, "-i", inv, "--check")
    assert first.code == 2, first.out + first.err
    assert "MaxSessionDuration 43200 → 3600" in first.out
    assert calls.mutating == []

    second = cli("run", book, "-i", inv)
    assert second.code == 0, second.out + second.err
    assert sessions(iam) == {"long": 3600, "short": 3600, "keep-long": 43200}
    assert iam.get_role(RoleName="long")["Role"]["Description"] == "kept"
    assert calls.mutating == ["UpdateRole"]

    calls.clear()
    third = cli("run", book, "-i", inv)
    assert third.code == 0 and calls.mutating == []
    fourth = cli("run", book, "-i", inv, "--check")
    assert fourth.code == 0 and "would change" not in fourth.out


def test_own_role_and_service_linked_roles_are_left_alone_and_reported(iam, aws, workdir, calls):
    make_role(iam, "remediator", MaxSessionDuration=43200)
    make_role(iam, "other", MaxSessionDuration=43200)
    iam.create_service_linked_role(AWSServiceName="support.amazonaws.com")
    linked = next(r["RoleName"] for r in iam.list_roles()["Roles"] if r["Path"].startswith("/aws-service-role/"))
    iam.update_role(RoleName=linked, MaxSessionDuration=43200)
    inv = write_inventory(workdir, aws, test={"role_arn": "arn:aws:iam::123456789012:role/remediator"})
    book = write(workdir, "play.yml", "- tasks:\n    - iam_roles: {max_session_duration: 3600}\n")
    result = cli("run", book, "-i", inv)
    assert result.code == 2, result.out + result.err  # changed, and the two findings stay open
    assert "the role this run uses" in result.out and "service-linked" in result.out
    assert sessions(iam)["other"] == 3600
    assert sessions(iam)["remediator"] == 43200 and sessions(iam)[linked] == 43200


def test_a_service_linked_role_left_alone_is_a_note_that_never_keeps_the_run_red(iam, aws, workdir, calls):
    """Left alone by design, for ever: an `info` finding, shown in every format, never exit 2."""
    make_role(iam, "other", MaxSessionDuration=3600)
    iam.create_service_linked_role(AWSServiceName="support.amazonaws.com")
    linked = next(r["RoleName"] for r in iam.list_roles()["Roles"] if r["Path"].startswith("/aws-service-role/"))
    iam.update_role(RoleName=linked, MaxSessionDuration=43200)
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", "- tasks:\n    - iam_roles: {max_session_duration: 3600}\n")

    text = cli("run", book, "-i", inv, "--check")
    assert text.code == 0, text.out + text.err
    assert "finding (info)" in text.out and "service-linked" in text.out
    assert "findings=0 info=1" in text.out and "compliant" in text.out
    report = json.loads(cli("run", book, "-i", inv, "--check", "--format", "json").out)
    account = report["accounts"][0]
    assert report["exit_code"] == 0 and account["counts"]["findings"] == 0 and account["counts"]["info"] == 1
    assert account["tasks"][0]["findings"][0]["severity"] == "info"
    junit = cli("run", book, "-i", inv, "--check", "--format", "junit").out
    assert "<failure" not in junit and "service-linked" in junit
    sarif = json.loads(cli("run", book, "-i", inv, "--check", "--format", "sarif").out)
    assert [r["level"] for r in sarif["runs"][0]["results"]] == ["none"]
    assert calls.mutating == []


def test_unused_roles_reported_with_evidence(iam, aws, workdir, calls):
    for name in ("stale", "never", "recent", "young"):
        make_role(iam, name)
    age_role("stale", 400, 200)
    age_role("never", 300)
    age_role("recent", 400, 5)
    age_role("young", 10)
    book = write(workdir, "play.yml", "- tasks:\n    - iam_roles: {unused_days: 90}\n")
    result = cli("run", book, "-i", write_inventory(workdir, aws), "--format", "json")
    assert result.code == 2, result.out + result.err
    report = json.loads(result.out)
    findings = [f for account in report["accounts"] for plan in account["tasks"] for f in plan["findings"]]
    by_role = {f["resource"]: f["message"] for f in findings}
    assert sorted(by_role) == ["never", "stale"]
    assert "200 days ago" in by_role["stale"] and "last used" in by_role["stale"]
    assert "never used" in by_role["never"] and "300 days ago" in by_role["never"]
    assert calls.mutating == []


def test_unused_roles_deleted_in_the_order_aws_requires(iam, aws, workdir, calls, client_hooks):
    arn = iam.create_policy(PolicyName="deploy", PolicyDocument=json.dumps(DENY))["Policy"]["Arn"]
    populated_role(iam, "old-app", arn)
    make_role(iam, "busy")
    age_role("old-app", 500, 200)
    age_role("busy", 500, 1)
    hook = RoleDeleteConflict(iam)
    client_hooks.append(hook)
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", "- tasks:\n    - iam_roles: {unused_days: 90, action: delete}\n")

    check = cli("run", book, "-i", inv, "--check")
    assert check.code == 2 and "cannot be undone" in check.out
    assert calls.mutating == []

    result = cli("run", book, "-i", inv)
    assert result.code == 0, result.out + result.err
    assert hook.seen == 1 and hook.conflicts == 0
    assert role_names(iam) == ["busy"]
    assert calls.mutating[-1] == "DeleteRole"

    calls.clear()
    again = cli("run", book, "-i", inv)
    assert again.code == 0 and calls.mutating == []


def test_sweep_reads_every_list_roles_page(iam, aws, workdir, client_hooks):
    for n in range(5):
        make_role(iam, f"role-{n}", MaxSessionDuration=43200)
    pages = truncate("ListRoles", "Roles", 2, sort_by="RoleName")
    client_hooks.append(pages)
    book = write(workdir, "play.yml", "- tasks:\n    - iam_roles: {max_session_duration: 3600}\n")
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 0, result.out + result.err
    assert "page-2" in pages.markers
    assert set(sessions(iam).values()) == {3600}


def test_deleting_sweep_is_capped_by_default_and_by_the_task(iam, aws, workdir, calls):
    for n in range(3):
        make_role(iam, f"stale-{n}")
        age_role(f"stale-{n}", 400)
    inv = write_inventory(workdir, aws)
    default = write(workdir, "d.yml", "- tasks:\n    - iam_roles: {unused_days: 90, action: delete}\n")
    planned = json.loads(cli("run", default, "-i", inv, "--check", "--format", "json").out)
    assert planned["accounts"][0]["tasks"][0]["max_changes"] == 25  # destructive sweeps get a blast radius

    capped = write(
        workdir, "c.yml", "- tasks:\n    - iam_roles: {unused_days: 90, action: delete}\n      max_changes: 2\n"
    )
    result = cli("run", capped, "-i", inv)
    assert result.code == 1 and "more than its max_changes of 2" in result.out
    assert calls.mutating == []
    assert len(role_names(iam)) == 3
