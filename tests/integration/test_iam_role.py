"""iam_role end to end through the CLI, against the emulator over HTTP."""

from __future__ import annotations

import json

import pytest

from remediator.aws.session import AccountSession
from remediator.errors import AwsError
from remediator.model import Account
from tests.conftest import assert_converged, cli, write, write_inventory
from tests.emulator import DENY, TRUST, make_role, populated_role, role_names
from tests.faults import RoleDeleteConflict
from tests.pages import truncate

DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}

FULL = """\
- accounts: all
  tasks:
    - name: app role
      iam_role:
        name: app
        description: the app
        trust_policy:
          Version: "2012-10-17"
          Statement:
            - {Effect: Allow, Principal: {Service: ec2.amazonaws.com}, Action: sts:AssumeRole}
        max_session_duration: 7200
        managed_policies: [deploy]
        inline_policies:
          s3-read: '{"Statement": [{"Action": ["s3:GetObject"], "Resource": "*", "Effect": "Allow"}]}'
        tags: {team: core}
"""


def live(iam, name):
    role = iam.get_role(RoleName=name)["Role"]
    return {
        "Description": role.get("Description", ""),
        "MaxSessionDuration": role["MaxSessionDuration"],
        "Trust": role["AssumeRolePolicyDocument"],
        "Tags": {t["Key"]: t["Value"] for t in role.get("Tags", [])},
        "Boundary": role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn"),
        "Managed": sorted(p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]),
        "Inline": {
            p: iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
            for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
        },
        "Profiles": sorted(
            p["InstanceProfileName"] for p in iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]
        ),
    }


@pytest.fixture
def deploy_arn(iam):
    return iam.create_policy(PolicyName="deploy", PolicyDocument=json.dumps(DOC))["Policy"]["Arn"]


def test_four_steps_check_apply_apply_check(iam, aws, workdir, calls, deploy_arn):
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", FULL)

    first = cli("run", book, "-i", inv, "--check")
    assert first.code == 2, first.out + first.err
    assert "would change" in first.out and "create role app" in first.out
    assert calls.mutating == []
    assert role_names(iam) == []

    second = cli("run", book, "-i", inv)
    assert second.code == 0, second.out + second.err
    assert "converged" in second.out
    state = live(iam, "app")
    assert state["Description"] == "the app" and state["MaxSessionDuration"] == 7200
    assert state["Tags"] == {"team": "core"} and state["Managed"] == [deploy_arn]
    assert state["Inline"]["s3-read"]["Statement"][0]["Action"] == ["s3:GetObject"]

    assert_converged(book, inv, calls)


def test_update_changes_only_named_fields_of_only_that_role(iam, aws, workdir, calls, deploy_arn):
    for name in ("app", "sibling"):
        make_role(iam, name, Description="before", MaxSessionDuration=43200, Tags=[{"Key": "keep", "Value": "me"}])
        iam.attach_role_policy(RoleName=name, PolicyArn=deploy_arn)
        iam.put_role_policy(RoleName=name, PolicyName="old", PolicyDocument=json.dumps(DENY))
    sibling = live(iam, "sibling")
    app_before = live(iam, "app")
    book = write(
        workdir,
        "play.yml",
        "- tasks:\n    - iam_role: {name: app, max_session_duration: 3600, purge_inline_policies: true,"
        " purge_managed_policies: true, purge_tags: true}\n",
    )
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 0, result.out + result.err
    assert live(iam, "sibling") == sibling  # a task about one role changes nothing else
    after = live(iam, "app")
    assert after["MaxSessionDuration"] == 3600
    # purge flags purge only what the task names a list for: no list named, so nothing purged
    assert {k: v for k, v in after.items() if k != "MaxSessionDuration"} == {
        k: v for k, v in app_before.items() if k != "MaxSessionDuration"
    }
    assert calls.mutating == ["UpdateRole"]


def test_purge_removes_what_the_task_does_not_list(iam, aws, workdir, deploy_arn):
    make_role(iam, "app", Tags=[{"Key": "old", "Value": "x"}])
    iam.attach_role_policy(RoleName="app", PolicyArn=deploy_arn)
    iam.put_role_policy(RoleName="app", PolicyName="old", PolicyDocument=json.dumps(DENY))
    book = write(
        workdir,
        "play.yml",
        "- tasks:\n    - iam_role: {name: app, managed_policies: [], purge_managed_policies: true,"
        " inline_policies: {}, purge_inline_policies: true, tags: {new: y}, purge_tags: true}\n",
    )
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 0, result.out + result.err
    state = live(iam, "app")
    assert state["Managed"] == [] and state["Inline"] == {} and state["Tags"] == {"new": "y"}


def test_document_equal_in_meaning_makes_no_write(iam, aws, workdir, calls):
    make_role(iam, "app")
    iam.put_role_policy(RoleName="app", PolicyName="s3", PolicyDocument=json.dumps(DOC))
    same_trust = json.dumps(
        {
            "Statement": {
                "Action": ["sts:AssumeRole"],
                "Principal": TRUST["Statement"][0]["Principal"],
                "Effect": "Allow",
            }
        }
    )
    same_doc = json.dumps({"Statement": [{"Resource": ["*"], "Effect": "Allow", "Action": ["s3:GetObject"]}]})
    book = write(
        workdir,
        "play.yml",
        "- tasks:\n    - iam_role:\n        name: app\n"
        f"        trust_policy: {json.dumps(same_trust)}\n"
        f"        inline_policies: {{s3: {json.dumps(same_doc)}}}\n",
    )
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 0, result.out + result.err
    assert "ok:" in result.out
    assert calls.mutating == []


def test_role_named_in_another_case_is_the_same_role(iam, aws, workdir, calls):
    make_role(iam, "MyApp")
    book = write(workdir, "play.yml", "- tasks:\n    - iam_role: {name: myapp, description: found}\n")
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 0, result.out + result.err
    assert role_names(iam) == ["MyApp"]
    assert live(iam, "MyApp")["Description"] == "found"


def test_missing_trust_policy_for_a_new_role_fails_clearly(iam, aws, workdir, calls):
    book = write(workdir, "play.yml", "- tasks:\n    - iam_role: {name: app, max_session_duration: 3600}\n")
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 1
    assert "trust_policy is required to create it" in result.out + result.err
    assert calls.mutating == [] and role_names(iam) == []


def test_unknown_managed_policy_name_fails_clearly(iam, aws, workdir, calls):
    make_role(iam, "app")
    book = write(workdir, "play.yml", "- tasks:\n    - iam_role: {name: app, managed_policies: [nope]}\n")
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 1
    assert "managed policy 'nope' not found" in result.out + result.err
    assert calls.mutating == []


def test_session_length_out_of_range_is_refused_before_any_call(aws, workdir, calls):
    # the emulator accepts any MaxSessionDuration: the module must not
    book = write(workdir, "play.yml", "- tasks:\n    - iam_role: {name: app, max_session_duration: 50000}\n")
    result = cli("validate", book)
    assert result.code == 1
    assert "max_session_duration" in result.out + result.err
    assert calls.records == []


def test_the_injected_conflict_bites_a_naive_delete(iam, aws, client_hooks, deploy_arn):
    populated_role(iam, "app", deploy_arn)
    hook = RoleDeleteConflict(iam)
    client_hooks.append(hook)
    client = AccountSession(Account("t", endpoint_url=aws), read_only=False).client("iam")
    with pytest.raises(AwsError) as caught:
        client.call("delete_role", RoleName="app")
    assert caught.value.code == "DeleteConflict"
    assert "app" in role_names(iam)


def test_absent_cleans_up_in_order_then_deletes(iam, aws, workdir, calls, client_hooks, deploy_arn):
    populated_role(iam, "app", deploy_arn)
    make_role(iam, "sibling")
    hook = RoleDeleteConflict(iam)
    client_hooks.append(hook)
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", "- tasks:\n    - iam_role: {name: app, state: absent}\n")

    check = cli("run", book, "-i", inv, "--check")
    assert check.code == 2 and "delete role app" in check.out
    assert calls.mutating == []

    result = cli("run", book, "-i", inv)
    assert result.code == 0, result.out + result.err
    assert hook.seen == 1 and hook.conflicts == 0
    assert calls.mutating == [
        "RemoveRoleFromInstanceProfile",
        "DeleteRolePolicy",
        "DetachRolePolicy",
        "DeleteRolePermissionsBoundary",
        "DeleteRole",
    ]
    assert role_names(iam) == ["sibling"]

    calls.clear()
    again = cli("run", book, "-i", inv)
    assert again.code == 0 and calls.mutating == []


def test_role_on_a_later_list_roles_page_is_found(iam, aws, workdir, calls, client_hooks):
    for n in range(5):
        make_role(iam, f"role-{n}", MaxSessionDuration=43200)
    pages = truncate("ListRoles", "Roles", 2, sort_by="RoleName")
    client_hooks.append(pages)
    book = write(workdir, "play.yml", "- tasks:\n    - iam_role: {name: role-4, max_session_duration: 3600}\n")
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 0, result.out + result.err
    assert None in pages.markers and "page-2" in pages.markers
    assert "CreateRole" not in calls.mutating
    assert live(iam, "role-4")["MaxSessionDuration"] == 3600
    assert live(iam, "role-0")["MaxSessionDuration"] == 43200


def test_service_linked_role_is_refused(iam, aws, workdir, calls):
    iam.create_service_linked_role(AWSServiceName="support.amazonaws.com")
    name = next(r["RoleName"] for r in iam.list_roles()["Roles"] if r["Path"].startswith("/aws-service-role/"))
    book = write(workdir, "play.yml", f"- tasks:\n    - iam_role: {{name: {name}, max_session_duration: 3600}}\n")
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 1
    assert "service-linked" in result.out + result.err
    assert calls.mutating == []


# ---- rollback -----------------------------------------------------------------------------------------
# A change's `after` is what rollback compares the live resource to: it must be what a re-read returns once
# the change is applied, or rollback calls the change stale and leaves it in place.

NO_VERSION_DOC = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
NO_VERSION_TRUST = {
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
}


def role_task(**options) -> str:
    return "- tasks:\n    - iam_role: " + json.dumps({"name": "app", **options}) + "\n"


def run_then_rollback(workdir, aws, book_text):
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", book_text)
    ran = cli("run", book, "-i", inv, "--journal", "journal.jsonl")
    assert ran.code == 0, ran.out + ran.err
    return cli("rollback", "journal.jsonl")


def test_rollback_deletes_an_inline_policy_written_from_a_document_without_version(iam, aws, workdir):
    make_role(iam, "app")
    undone = run_then_rollback(workdir, aws, role_task(inline_policies={"s3": NO_VERSION_DOC}))
    assert undone.code == 0, undone.out + undone.err
    assert "stale" not in undone.out
    assert live(iam, "app")["Inline"] == {}
    assert cli("rollback", "journal.jsonl", "--check").code == 0  # nothing left to undo


def test_rollback_restores_an_inline_policy_replaced_by_a_document_without_version(iam, aws, workdir):
    make_role(iam, "app")
    iam.put_role_policy(RoleName="app", PolicyName="s3", PolicyDocument=json.dumps(DENY))
    undone = run_then_rollback(workdir, aws, role_task(inline_policies={"s3": NO_VERSION_DOC}))
    assert undone.code == 0, undone.out + undone.err
    assert live(iam, "app")["Inline"] == {"s3": DENY}


def test_rollback_restores_a_trust_policy_replaced_by_a_document_without_version(iam, aws, workdir):
    make_role(iam, "app")
    undone = run_then_rollback(workdir, aws, role_task(trust_policy=NO_VERSION_TRUST))
    assert undone.code == 0, undone.out + undone.err
    assert live(iam, "app")["Trust"] == TRUST


def test_rollback_deletes_a_role_created_with_a_trust_policy_without_version(iam, aws, workdir):
    undone = run_then_rollback(workdir, aws, role_task(trust_policy=NO_VERSION_TRUST))
    assert undone.code == 0, undone.out + undone.err
    assert role_names(iam) == []


def test_rollback_deletes_a_role_created_with_tags(iam, aws, workdir):
    undone = run_then_rollback(workdir, aws, role_task(trust_policy=TRUST, tags={"team": "core", "critical": True}))
    assert undone.code == 0, undone.out + undone.err
    assert role_names(iam) == []


def test_rollback_of_the_full_example_leaves_nothing(iam, aws, workdir, deploy_arn):
    # tags, a trust policy with Version and an inline policy (a JSON string) without: every change is undone
    undone = run_then_rollback(workdir, aws, FULL)
    assert undone.code == 0, undone.out + undone.err
    assert role_names(iam) == []
    assert cli("rollback", "journal.jsonl", "--check").code == 0


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda iam: iam.tag_role(RoleName="app", Tags=[{"Key": "team", "Value": "data"}]), id="changed"),
        pytest.param(lambda iam: iam.tag_role(RoleName="app", Tags=[{"Key": "owner", "Value": "bob"}]), id="added"),
        pytest.param(lambda iam: iam.untag_role(RoleName="app", TagKeys=["team"]), id="removed"),
    ],
)
def test_rollback_leaves_a_created_role_whose_tags_changed_since_the_run(iam, aws, workdir, calls, edit):
    # The create left the role with exactly the task's tags; any tag edit since (changed, added or removed)
    # is someone else's work that deleting the role would destroy: the create is stale and the role stays.
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", role_task(trust_policy=TRUST, tags={"team": "core"}))
    assert cli("run", book, "-i", inv, "--journal", "journal.jsonl").code == 0
    edit(iam)
    edited = live(iam, "app")["Tags"]
    calls.clear()
    undone = cli("rollback", "journal.jsonl")
    assert undone.code == 1 and "changed since the run" in undone.out, undone.out + undone.err
    assert calls.mutating == []
    assert role_names(iam) == ["app"] and live(iam, "app")["Tags"] == edited


def test_rollback_deletes_a_created_role_whose_later_tag_change_was_undone_first(iam, aws, workdir):
    # A later run, journaled to the same file, retags the role: rollback undoes that first (newest first),
    # which leaves the tags as the create set them, so the create is not stale and the role is deleted.
    inv = write_inventory(workdir, aws)
    create = write(workdir, "create.yml", role_task(trust_policy=TRUST, tags={"team": "core"}))
    retag = write(workdir, "retag.yml", role_task(tags={"team": "data", "owner": "bob"}))
    for book in (create, retag):
        ran = cli("run", book, "-i", inv, "--journal", "journal.jsonl")
        assert ran.code == 0, ran.out + ran.err
    assert live(iam, "app")["Tags"] == {"team": "data", "owner": "bob"}
    undone = cli("rollback", "journal.jsonl")
    assert undone.code == 0, undone.out + undone.err
    assert role_names(iam) == []
