"""iam_group end to end through the CLI, against the emulator over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from remediator.aws.session import AccountSession
from remediator.errors import AwsError
from remediator.model import Account
from tests.conftest import assert_converged, cli, write, write_inventory
from tests.emulator import DENY, backend
from tests.faults import Inject, query_error

DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
LOGS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}

FULL = """\
- accounts: all
  tasks:
    - name: operators group
      iam_group:
        name: operators
        path: /teams/
        managed_policies: [deploy]
        inline_policies:
          s3-read: '{"Statement": [{"Action": ["s3:GetObject"], "Resource": "*", "Effect": "Allow"}]}'
        members: [alice, bob]
"""

DRIFTED = """\
- tasks:
    - iam_group:
        name: operators
        path: /teams/
        managed_policies: [deploy]
        purge_managed_policies: true
        inline_policies:
          s3-read: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:GetObject", Resource: "*"}]}
        purge_inline_policies: true
        members: [alice, bob]
        purge_members: true
"""

ABSENT = "- tasks:\n    - iam_group: {name: operators, state: absent}\n"


class GroupDeleteConflict:
    """DeleteGroup answers DeleteConflict while the group still has members or policies, as AWS does (the
    emulator deletes). `race`, when given, runs on the first DeleteGroup before the check: an edit someone
    makes while the run is under way. `seen` counts DeleteGroup calls, `conflicts` the ones refused."""

    def __init__(self, iam: Any, race: Callable[[], None] | None = None) -> None:
        self.iam = iam
        self.race = race
        self.seen = 0
        self.conflicts = 0

    def __call__(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.iam.DeleteGroup", self._remember)
        client.meta.events.register("before-send.iam.DeleteGroup", self._send)

    def _remember(self, params: dict[str, Any], **_: Any) -> None:
        self.name = params["GroupName"]

    def _send(self, request: Any, **_: Any) -> AWSResponse | None:
        self.seen += 1
        if self.race is not None and self.seen == 1:
            self.race()
        name = self.name
        busy = (
            self.iam.get_group(GroupName=name)["Users"]
            or self.iam.list_group_policies(GroupName=name)["PolicyNames"]
            or self.iam.list_attached_group_policies(GroupName=name)["AttachedPolicies"]
        )
        if busy:
            self.conflicts += 1
            return query_error("DeleteConflict", "Cannot delete entity, must remove users from group first.", 409)
        return None


class GroupPathMoves:
    """UpdateGroup with NewPath alone moves the group, as AWS does; the emulator changes a group's path only
    together with a new name, and otherwise answers success having changed nothing. `moves` records each."""

    def __init__(self) -> None:
        self.moves: list[tuple[str, str]] = []

    def __call__(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.iam.UpdateGroup", self._move)

    def _move(self, params: dict[str, Any], **_: Any) -> None:
        groups = backend().groups
        if "NewPath" in params and "NewGroupName" not in params and params["GroupName"] in groups:
            groups[params["GroupName"]].path = params["NewPath"]
            self.moves.append((params["GroupName"], params["NewPath"]))


def live(iam: Any, name: str) -> dict[str, Any]:
    group = iam.get_group(GroupName=name)
    return {
        "Path": group["Group"]["Path"],
        "GroupId": group["Group"]["GroupId"],
        "Members": sorted(u["UserName"] for u in group["Users"]),
        "Managed": sorted(p["PolicyArn"] for p in iam.list_attached_group_policies(GroupName=name)["AttachedPolicies"]),
        "Inline": {
            p: iam.get_group_policy(GroupName=name, PolicyName=p)["PolicyDocument"]
            for p in iam.list_group_policies(GroupName=name)["PolicyNames"]
        },
    }


def group_names(iam: Any) -> list[str]:
    return sorted(g["GroupName"] for g in iam.list_groups()["Groups"])


@pytest.fixture
def deploy_arn(iam: Any) -> str:
    return iam.create_policy(PolicyName="deploy", PolicyDocument=json.dumps(DOC))["Policy"]["Arn"]


@pytest.fixture
def users(iam: Any) -> list[str]:
    names = ["alice", "bob", "mallory"]
    for name in names:
        iam.create_user(UserName=name)
    return names


def populated_group(iam: Any, name: str, policy_arn: str, members: list[str]) -> None:
    """A group with everything AWS wants removed before DeleteGroup: members, an attached and an inline policy."""
    iam.create_group(GroupName=name, Path="/teams/")
    iam.attach_group_policy(GroupName=name, PolicyArn=policy_arn)
    iam.put_group_policy(GroupName=name, PolicyName="inline", PolicyDocument=json.dumps(DENY))
    for user in members:
        iam.add_user_to_group(GroupName=name, UserName=user)


# ---- the four steps ----------------------------------------------------------------------------------


def test_four_steps_from_nothing(iam, aws, workdir, calls, deploy_arn, users):
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", FULL)

    first = cli("run", book, "-i", inv, "--check")
    assert first.code == 2, first.out + first.err
    assert "would change" in first.out and "create group operators" in first.out
    assert calls.mutating == []
    assert group_names(iam) == []

    second = cli("run", book, "-i", inv)
    assert second.code == 0, second.out + second.err
    assert "converged" in second.out
    assert calls.mutating == [
        "CreateGroup",
        "AttachGroupPolicy",
        "PutGroupPolicy",
        "AddUserToGroup",
        "AddUserToGroup",
    ]
    state = live(iam, "operators")
    assert state["Path"] == "/teams/" and state["Managed"] == [deploy_arn]
    assert state["Members"] == ["alice", "bob"]
    assert state["Inline"]["s3-read"]["Statement"][0]["Action"] == ["s3:GetObject"]

    assert_converged(book, inv, calls)


def test_four_steps_from_drifted_state(iam, aws, workdir, calls, client_hooks, deploy_arn, users):
    other = iam.create_policy(PolicyName="other", PolicyDocument=json.dumps(DOC))["Policy"]["Arn"]
    iam.create_group(GroupName="operators", Path="/old/")
    iam.attach_group_policy(GroupName="operators", PolicyArn=other)
    iam.put_group_policy(GroupName="operators", PolicyName="s3-read", PolicyDocument=json.dumps(LOGS))
    iam.put_group_policy(GroupName="operators", PolicyName="stray", PolicyDocument=json.dumps(DENY))
    for user in ("alice", "mallory"):
        iam.add_user_to_group(GroupName="operators", UserName=user)
    group_id = live(iam, "operators")["GroupId"]
    moves = GroupPathMoves()
    client_hooks.append(moves)
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", DRIFTED)

    first = cli("run", book, "-i", inv, "--check")
    assert first.code == 2, first.out + first.err
    for summary in (
        "path /old/ → /teams/",
        f"attach {deploy_arn}",
        f"detach {other}",
        "update inline policy s3-read",
        "delete inline policy stray",
        "add user bob",
        "remove user mallory",
    ):
        assert summary in first.out, summary
    assert calls.mutating == []

    second = cli("run", book, "-i", inv)
    assert second.code == 0, second.out + second.err
    assert "converged" in second.out
    assert moves.moves == [("operators", "/teams/")]
    state = live(iam, "operators")
    assert state == {
        "Path": "/teams/",
        "GroupId": group_id,  # moved in place, not recreated
        "Members": ["alice", "bob"],
        "Managed": [deploy_arn],
        "Inline": {"s3-read": DOC},
    }

    assert_converged(book, inv, calls)


# ---- only what the task names --------------------------------------------------------------------------


def test_without_purge_flags_only_named_fields_of_only_that_group_change(iam, aws, workdir, calls, deploy_arn, users):
    for name in ("operators", "sibling"):
        populated_group(iam, name, deploy_arn, ["mallory"])
    sibling, before = live(iam, "sibling"), live(iam, "operators")
    book = write(
        workdir,
        "play.yml",
        "- tasks:\n    - iam_group: {name: operators, members: [alice], purge_managed_policies: true,"
        " purge_inline_policies: true}\n",
    )
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 0, result.out + result.err
    assert calls.mutating == ["AddUserToGroup"]
    assert live(iam, "sibling") == sibling
    assert live(iam, "operators") == {**before, "Members": ["alice", "mallory"]}


def test_purge_with_empty_lists_empties_the_group(iam, aws, workdir, calls, deploy_arn, users):
    populated_group(iam, "operators", deploy_arn, ["alice", "bob"])
    book = write(
        workdir,
        "play.yml",
        "- tasks:\n    - iam_group: {name: operators, managed_policies: [], purge_managed_policies: true,"
        " inline_policies: {}, purge_inline_policies: true, members: [], purge_members: true}\n",
    )
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 0, result.out + result.err
    state = live(iam, "operators")
    assert state["Managed"] == [] and state["Inline"] == {} and state["Members"] == []
    assert sorted(calls.mutating) == sorted(
        ["DetachGroupPolicy", "DeleteGroupPolicy", "RemoveUserFromGroup", "RemoveUserFromGroup"]
    )


def test_group_and_members_named_in_another_case_are_the_same(iam, aws, workdir, calls, users):
    iam.create_group(GroupName="Operators")
    iam.add_user_to_group(GroupName="Operators", UserName="alice")
    book = write(workdir, "play.yml", "- tasks:\n    - iam_group: {name: operators, members: [ALICE, Bob]}\n")
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 0, result.out + result.err
    assert calls.mutating == ["AddUserToGroup"]
    assert group_names(iam) == ["Operators"]
    assert live(iam, "Operators")["Members"] == ["alice", "bob"]


# ---- names that do not resolve ----------------------------------------------------------------------


def test_unknown_member_fails_the_task_naming_it(iam, aws, workdir, calls, users):
    book = write(workdir, "play.yml", "- tasks:\n    - iam_group: {name: operators, members: [alice, nobody]}\n")
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 1
    assert "no such user 'nobody'" in result.out + result.err
    assert calls.mutating == [] and group_names(iam) == []


def test_unknown_managed_policy_name_fails_clearly(iam, aws, workdir, calls):
    book = write(workdir, "play.yml", "- tasks:\n    - iam_group: {name: operators, managed_policies: [nope]}\n")
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 1
    assert "managed policy 'nope' not found" in result.out + result.err
    assert calls.mutating == []


def test_a_name_aws_refuses_is_refused_before_any_call(aws, workdir, calls):
    # the emulator accepts any group name and member name: the module must not
    book = write(workdir, "play.yml", "- tasks:\n    - iam_group: {name: 'ops team', members: [alice]}\n")
    result = cli("validate", book)
    assert result.code == 1
    assert "group name 'ops team' contains ' '" in result.out + result.err
    assert calls.records == []


# ---- what earlier tasks of the run create -------------------------------------------------------------

CHAIN = """\
- tasks:
    - name: deploy policy
      iam_policy:
        name: deploy
        document: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:GetObject", Resource: "*"}]}
    - name: operators group attaches it by name
      iam_group:
        name: operators
        managed_policies: [deploy]
        members: [alice]
    - name: the new group gets an inline policy too
      iam_inline_policy:
        group: operators
        policy_name: logs
        document: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "logs:*", Resource: "*"}]}
"""


def test_a_policy_an_earlier_task_creates_is_attached_by_name(iam, aws, workdir, calls, users):
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", CHAIN)
    check = cli("run", book, "-i", inv, "--check")
    assert check.code == 2, check.out + check.err
    assert "failed" not in check.out.split("RECAP")[0]
    assert calls.mutating == []

    applied = cli("run", book, "-i", inv)
    assert applied.code == 0, applied.out + applied.err
    assert "converged" in applied.out
    state = live(iam, "operators")
    assert [arn.rsplit("/", 1)[-1] for arn in state["Managed"]] == ["deploy"]
    assert state["Members"] == ["alice"] and list(state["Inline"]) == ["logs"]

    calls.clear()
    again = cli("run", book, "-i", inv, "--check")
    assert again.code == 0, again.out
    assert calls.mutating == []


def test_the_injected_conflict_bites_a_naive_delete(iam, aws, client_hooks, deploy_arn, users):
    populated_group(iam, "operators", deploy_arn, ["alice"])
    hook = GroupDeleteConflict(iam)
    client_hooks.append(hook)
    client = AccountSession(Account("t", endpoint_url=aws), read_only=False).client("iam")
    with pytest.raises(AwsError) as caught:
        client.call("delete_group", GroupName="operators")
    assert caught.value.code == "DeleteConflict"
    assert group_names(iam) == ["operators"]


def test_absent_empties_in_order_then_deletes(iam, aws, workdir, calls, client_hooks, deploy_arn, users):
    populated_group(iam, "operators", deploy_arn, ["alice", "bob"])
    iam.create_group(GroupName="sibling")
    hook = GroupDeleteConflict(iam)
    client_hooks.append(hook)
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", ABSENT)

    check = cli("run", book, "-i", inv, "--check")
    assert check.code == 2 and "delete group operators" in check.out
    assert calls.mutating == []

    result = cli("run", book, "-i", inv)
    assert result.code == 0, result.out + result.err
    assert hook.seen == 1 and hook.conflicts == 0
    assert calls.mutating == [
        "RemoveUserFromGroup",
        "RemoveUserFromGroup",
        "DetachGroupPolicy",
        "DeleteGroupPolicy",
        "DeleteGroup",
    ]
    assert group_names(iam) == ["sibling"]
    assert [u["UserName"] for u in iam.list_users()["Users"]] == users  # members are left, only unlinked

    calls.clear()
    again = cli("run", book, "-i", inv)
    assert again.code == 0 and calls.mutating == []
    assert "does not exist, as the task wants" in again.out


def test_a_delete_conflict_fails_the_task_cleanly_and_a_rerun_finishes(
    iam, aws, workdir, calls, client_hooks, deploy_arn, users
):
    """Someone adds a member while the run empties the group: AWS refuses DeleteGroup, the change fails
    and is reported, and the next run removes the newcomer and deletes the group."""
    populated_group(iam, "operators", deploy_arn, ["alice"])
    hook = GroupDeleteConflict(iam, race=lambda: iam.add_user_to_group(GroupName="operators", UserName="mallory"))
    client_hooks.append(hook)
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", ABSENT)

    failed = cli("run", book, "-i", inv)
    assert failed.code == 1, failed.out + failed.err
    assert "DeleteConflict" in failed.out + failed.err
    assert "failed" in failed.out
    assert hook.conflicts == 1
    assert live(iam, "operators")["Members"] == ["mallory"]

    calls.clear()
    rerun = cli("run", book, "-i", inv)
    assert rerun.code == 0, rerun.out + rerun.err
    assert calls.mutating == ["RemoveUserFromGroup", "DeleteGroup"]
    assert group_names(iam) == []


def test_a_member_added_after_the_plan_makes_the_delete_stale(iam, aws, workdir, calls, deploy_arn, users):
    populated_group(iam, "operators", deploy_arn, ["alice"])
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", ABSENT)
    planned = cli("run", book, "-i", inv, "--check", "--plan-out", "plan.json")
    assert planned.code == 2, planned.out + planned.err

    iam.add_user_to_group(GroupName="operators", UserName="bob")
    applied = cli("apply", "plan.json")
    assert applied.code == 1, applied.out + applied.err
    assert "stale" in applied.out
    assert calls.mutating == []
    assert live(iam, "operators")["Members"] == ["alice", "bob"]


def test_rollback_recreates_a_deleted_group_with_its_policies_and_members(iam, aws, workdir, deploy_arn, users):
    populated_group(iam, "operators", deploy_arn, ["alice", "bob"])
    before = live(iam, "operators")
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", ABSENT)
    deleted = cli("run", book, "-i", inv, "--journal", "journal.jsonl")
    assert deleted.code == 0, deleted.out + deleted.err
    assert group_names(iam) == []

    undone = cli("rollback", "journal.jsonl")
    assert undone.code == 0, undone.out + undone.err
    after = live(iam, "operators")
    assert after["GroupId"] != before["GroupId"]  # AWS gives a recreated group a new id
    assert {k: v for k, v in after.items() if k != "GroupId"} == {k: v for k, v in before.items() if k != "GroupId"}


def test_rollback_of_a_created_group_removes_it(iam, aws, workdir, deploy_arn, users):
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", FULL)
    created = cli("run", book, "-i", inv, "--journal", "journal.jsonl")
    assert created.code == 0, created.out + created.err
    undone = cli("rollback", "journal.jsonl")
    assert undone.code == 0, undone.out + undone.err
    assert group_names(iam) == []
    assert cli("rollback", "journal.jsonl", "--check").code == 0


# ---- least privilege ----------------------------------------------------------------------------------


def test_permissions_follow_the_options(workdir):
    members_only = write(
        workdir, "m.yml", "- tasks:\n    - iam_group: {name: ops, members: [a], purge_members: true}\n"
    )
    absent = write(workdir, "a.yml", ABSENT)
    for book, expected in (
        (members_only, {"iam:CreateGroup", "iam:AddUserToGroup", "iam:RemoveUserFromGroup"}),
        (absent, {"iam:RemoveUserFromGroup", "iam:DetachGroupPolicy", "iam:DeleteGroupPolicy", "iam:DeleteGroup"}),
    ):
        result = cli("permissions", book)
        assert result.code == 0, result.out + result.err
        policy = json.loads(result.out)
        writes = {a for s in policy["Statement"] if s["Sid"] == "RemediatorWrite" for a in s["Action"]}
        assert writes == expected


def test_a_user_an_earlier_iam_user_task_creates_is_added(iam, aws, workdir, calls):
    book = write(
        workdir,
        "play.yml",
        "- tasks:\n    - iam_user: {name: newcomer}\n    - iam_group: {name: operators, members: [newcomer]}\n",
    )
    inv = write_inventory(workdir, aws)
    check = cli("run", book, "-i", inv, "--check")
    assert check.code == 2, check.out + check.err
    assert "add user newcomer to group operators" in check.out
    assert calls.mutating == []

    applied = cli("run", book, "-i", inv)
    assert applied.code == 0, applied.out + applied.err
    assert live(iam, "operators")["Members"] == ["newcomer"]

    calls.clear()
    again = cli("run", book, "-i", inv, "--check")
    assert again.code == 0, again.out
    assert calls.mutating == []


def test_a_deletion_that_failed_part_way_is_rolled_back(iam, aws, workdir, calls, client_hooks, deploy_arn, users):
    """DeleteGroup refused after the members and policies were removed: the change failed part-way, and
    rollback puts back what it had done (the group, which still exists, is not created again)."""
    populated_group(iam, "operators", deploy_arn, ["alice", "bob"])
    client_hooks.append(_refuse("DeleteGroup"))
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", ABSENT)
    result = cli("run", book, "-i", inv, "--journal", "j.jsonl")
    assert result.code == 1 and "ServiceFailure" in result.out + result.err
    assert group_names(iam) == ["operators"]
    assert iam.get_group(GroupName="operators")["Users"] == []  # emptied, not deleted

    check = cli("rollback", "j.jsonl", "--check")
    assert check.code == 2 and "failed part-way" in check.out
    client_hooks.clear()
    done = cli("rollback", "j.jsonl")
    assert done.code == 0, done.out + done.err
    assert sorted(u["UserName"] for u in iam.get_group(GroupName="operators")["Users"]) == ["alice", "bob"]
    assert [p["PolicyArn"] for p in iam.list_attached_group_policies(GroupName="operators")["AttachedPolicies"]] == [
        deploy_arn
    ]
    assert iam.list_group_policies(GroupName="operators")["PolicyNames"] == ["inline"]
    assert cli("rollback", "j.jsonl", "--check").code == 0  # recorded as undone


def test_a_change_that_failed_before_changing_anything_has_nothing_to_undo(
    iam, aws, workdir, calls, client_hooks, deploy_arn, users
):
    populated_group(iam, "operators", deploy_arn, ["alice"])
    client_hooks.append(_refuse("RemoveUserFromGroup"))
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", ABSENT)
    assert cli("run", book, "-i", inv, "--journal", "j.jsonl").code == 1
    client_hooks.clear()
    calls.clear()
    done = cli("rollback", "j.jsonl")
    assert done.code == 0, done.out + done.err
    assert "changed nothing" in done.out and calls.mutating == []


def _refuse(operation: str) -> Any:
    """Every `operation` answered with a server failure (after retries, the change fails there)."""
    return Inject("iam", operation, lambda: query_error("ServiceFailure", "try later", 500))


FIGHT = """\
- tasks:
    - name: admins are exactly these
      iam_group: {name: admins, members: [bob], purge_members: true}
    - name: alice
      iam_user: {name: alice, groups: [admins]}
"""


def test_tasks_that_would_undo_each_others_membership_are_bad_input(iam, aws, workdir, calls):
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", FIGHT)
    for command in (("validate", book, "-i", inv), ("run", book, "-i", inv, "--check")):
        result = cli(*command)
        assert result.code == 1, result.out + result.err
        [line] = result.err.strip().splitlines()
        assert "'alice'" in line and "'admins'" in line and "purge_members" in line
        assert f"{book}:2" in line and f"{book}:4" in line
    assert calls.records == []
