"""`Module.check_change` of the sweeps, iam_inline_policy and cloudtrail: every change a module really plans
(the plan cases under tests/modules/) passes, as it is and as a plan file holds it; each kind of edit to one
is refused, naming what is wrong. Modules that plan no write at all need no hook: the plan-file reader
refuses any call of theirs."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remediator import planfile, policydoc, registry
from remediator.model import ApiCall, Change

CASES = Path(__file__).resolve().parent.parent / "modules"
CHECKED = (
    "iam_roles",
    "iam_users",
    "iam_inline_policy",
    "cloudtrail",
    "iam_role",
    "iam_user",
    "iam_group",
    "iam_policy",
)
FINDINGS_ONLY = ("iam_policies", "iam_root_account", "iam_admins", "iam_unused_permissions")
DELETE = object()  # an edit that removes the key


def case(module: str, name: str) -> dict[str, Any]:
    return json.loads((CASES / module / f"{name}.json").read_text(encoding="utf-8"))


def scope(module: str, data: dict[str, Any]) -> str:
    """The scope a run gives the task: regional modules carry the account's region (the one `read` saw)."""
    return "acct/global" if registry.get(module).global_service else f"acct/{data['current']['region']}"


def planned(module: str, name: str) -> tuple[dict[str, Any], list[Change]]:
    data = case(module, name)
    mod = registry.get(module)
    return data["args"], mod.plan(data["args"], mod.load_current(data["current"]), scope(module, data)).changes


def saved(change: Change) -> Change:
    """The change as a plan file holds it (every object's keys sorted)."""
    return Change.from_dict(json.loads(json.dumps(change.to_dict(), sort_keys=True)))


def real_changes() -> list[Any]:
    found = []
    for module in CHECKED:
        for path in sorted((CASES / module).glob("*.json")):
            if json.loads(path.read_text(encoding="utf-8")).get("changes"):
                found.append(pytest.param(module, path.stem, id=f"{module}/{path.stem}"))
    return found


@pytest.mark.parametrize(("module", "name"), real_changes())
def test_every_change_a_module_plans_passes(module: str, name: str) -> None:
    args, changes = planned(module, name)
    assert changes
    for change in changes:
        assert registry.get(module).check_change(args, change) is None, change.resource
        assert registry.get(module).check_change(args, saved(change)) is None, change.resource


# ------------------------------------------------------------------ edits


def _steps(path: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]


def edited(change: Change, edits: dict[str, Any]) -> Change:
    data = json.loads(json.dumps(change.to_dict(), sort_keys=True))
    for path, value in edits.items():
        *parents, last = _steps(path)
        node = data
        for step in parents:
            node = node[step]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return Change.from_dict(data)


def refusal(module: str, name: str, resource: str, edits: dict[str, Any], args: dict[str, Any] | None) -> str | None:
    """What the module says of the change its case plans for `resource`, edited, under the task's args with
    `args` merged in (None removes an option; "<before>" is the before-image's document)."""
    task_args, changes = planned(module, name)
    (change,) = [c for c in changes if c.resource == resource]
    for key, value in (args or {}).items():
        task_args = {k: v for k, v in task_args.items() if k != key}
        if value == "<before>":
            value = change.before["Document"]  # type: ignore[index]
        if value is not None:
            task_args[key] = value
    return registry.get(module).check_change(task_args, edited(change, edits))


def _policy_text(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))


# (case, resource, edits to the change, args merged into the task's, what the refusal says)
ROLES: dict[str, tuple[str, str, dict[str, Any], dict[str, Any] | None, str]] = {
    "cap raised": ("cap_lowers_never_raises", "long", {"calls[0].params.MaxSessionDuration": 43200}, None,
                   "calls[0].params.MaxSessionDuration: 43200 where the task's args plan 7200"),
    "cap of another role": ("cap_lowers_never_raises", "long", {"calls[0].params.RoleName": "victim"}, None,
                            "calls[0].params.RoleName: 'victim' where the task's args plan 'long'"),
    "undo to another value": ("cap_lowers_never_raises", "long", {"undo[0].params.MaxSessionDuration": 3600}, None,
                              "undo[0].params.MaxSessionDuration: 3600 where the task's args plan 43200"),
    "undo of another role": ("cap_lowers_never_raises", "long", {"undo[0].params.RoleName": "victim"}, None,
                             "undo[0].params.RoleName"),
    "no undo": ("cap_lowers_never_raises", "long", {"undo": None}, None, "undo: null where the task's args plan"),
    "after edited": ("cap_lowers_never_raises", "long", {"after.MaxSessionDuration": 3600}, None,
                     "after.MaxSessionDuration: 3600"),
    "before below the cap": ("cap_lowers_never_raises", "long", {"before.MaxSessionDuration": 7200}, None,
                             "before.MaxSessionDuration: 7200 is not above the cap of 7200"),
    "before a string": ("cap_lowers_never_raises", "long", {"before.MaxSessionDuration": "43200"}, None,
                        "before.MaxSessionDuration"),
    "before another field": ("cap_lowers_never_raises", "long", {"before.Description": "x"}, None,
                             "before: 'Description' is not a field"),
    "summary lies": ("cap_lowers_never_raises", "long", {"summary": "nothing to see"}, None, "summary:"),
    "cap without a cap": ("cap_lowers_never_raises", "long", {}, {"max_session_duration": None, "unused_days": 9},
                          "set no max_session_duration"),
    "cap of an excluded role": ("cap_lowers_never_raises", "long", {}, {"exclude": ["L*"]}, "excluded"),
    "cap as a delete": ("cap_lowers_never_raises", "long", {"action": "delete"}, None, "do not delete roles"),
    "cap as a disable": ("cap_lowers_never_raises", "long", {"action": "disable"}, None, "action 'disable'"),
    "delete in report mode": ("unused_deleted_with_cleanup", "old-app", {}, {"action": "report"},
                              "do not delete roles"),
    "delete leaves a link": ("unused_deleted_with_cleanup", "old-app", {"calls[2]": DELETE}, None,
                             "calls: 4 item(s) where the task's args plan 5"),
    "delete of another role": ("unused_deleted_with_cleanup", "old-app", {"calls[4].params.RoleName": "victim"},
                               None, "calls[4].params.RoleName: 'victim'"),
    "delete names another role": ("unused_deleted_with_cleanup", "old-app", {"before.RoleName": "victim"}, None,
                                  "before.RoleName: 'victim' is not the change's role 'old-app'"),
    "delete of a service role": (
        "unused_deleted_with_cleanup", "old-app",
        {"before.Path": "/aws-service-role/", "before.Arn": "arn:aws:iam::123456789012:role/aws-service-role/old-app"},
        None, "service-linked",
    ),
    "delete of an excluded role": ("unused_deleted_with_cleanup", "old-app", {}, {"exclude": ["/"]}, "not selected"),
    "delete with another ARN": ("unused_deleted_with_cleanup", "old-app",
                                {"before.Arn": "arn:aws:iam::123456789012:role/other"}, None, "before.Arn"),
    "delete with a made-up date": ("unused_deleted_with_cleanup", "old-app", {"before.LastUsed": "yesterday"}, None,
                                   "before.LastUsed"),
    "delete with links as text": ("unused_deleted_with_cleanup", "old-app", {"before.InstanceProfiles": "p"}, None,
                                  "before.InstanceProfiles"),
    "delete with an undo": ("unused_deleted_with_cleanup", "old-app",
                            {"undo": [{"service": "iam", "operation": "delete_user", "params": {"UserName": "v"}}]},
                            None, "undo: "),
    "delete of a link not in its image": ("unused_deleted_with_cleanup", "old-app",
                                          {"before.InlinePolicies": ["p", "q"]}, None, "calls: 5 item(s)"),
}  # fmt: skip

DAY = "2026-06-01"
USERS: dict[str, tuple[str, str, dict[str, Any], dict[str, Any] | None, str]] = {
    "tag value not a date": ("disable_plan_and_its_undo", "stale", {"calls[1].params.Tags[0].Value": "soon"}, None,
                             "'soon' is not an ISO date (YYYY-MM-DD)"),
    "tag value not a day": ("disable_plan_and_its_undo", "stale", {"calls[1].params.Tags[0].Value": "2026-02-30"},
                            None, "'2026-02-30' is not a date"),
    "tags of two days": ("disable_plan_and_its_undo", "stale", {"calls[3].params.Tags[0].Value": "2026-06-02"}, None,
                         "calls[3].params.Tags[0].Value: '2026-06-02' where the task's args plan '2026-06-01'"),
    "quarantined while in use": ("disable_plan_and_its_undo", "stale",
                                 {"before.LastActivity": "2026-05-01T00:00:00+00:00",
                                  "after.LastActivity": "2026-05-01T00:00:00+00:00"}, None,
                                 "before.LastActivity: 2026-05-01 is within unused_days 90 of the day"),
    "disable of another user": ("disable_plan_and_its_undo", "stale", {"calls[1].params.UserName": "victim"}, None,
                                "calls[1].params.UserName: 'victim' where the task's args plan 'stale'"),
    "disable of another key": ("disable_plan_and_its_undo", "stale", {"calls[1].params.AccessKeyId": "AKIAOTHER"},
                               None, "calls[1].params.AccessKeyId"),
    "disable without the policy": ("disable_plan_and_its_undo", "stale", {"calls[0]": DELETE}, None,
                                   "calls: 3 item(s) where the task's args plan 4"),
    "disable with an allow-all policy": (
        "disable_plan_and_its_undo", "stale",
        {"calls[0].params.PolicyDocument": _policy_text(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})},
        None, "calls[0].params.PolicyDocument",
    ),
    "undo leaves the key off": ("disable_plan_and_its_undo", "stale", {"undo[0]": DELETE}, None, "undo: 3 item(s)"),
    "after keeps a key": ("disable_plan_and_its_undo", "stale", {"after.ActiveKeys": ["AKIAOLD1"]}, None,
                          "after.ActiveKeys"),
    "disable in report mode": ("disable_plan_and_its_undo", "stale", {}, {"action": "report"}, "disable no user"),
    "disable as a delete": ("disable_plan_and_its_undo", "stale", {"action": "delete"}, None, "delete no user"),
    "disable of a user used since its quarantine": (
        "disable_completes_a_partial_quarantine_and_keeps_its_date", "half",
        {f"{image}.{field}": value for image in ("before", "after")
         for field, value in (("QuarantinedAt", "2026-01-01"), ("LastActivity", "2026-02-01T00:00:00+00:00"))},
        {"delete_after_days": 30}, "used since its quarantine on 2026-01-01",
    ),
    "console kept in report mode": ("remove_console_access_is_its_own_irreversible_change", "idle/console", {},
                                    {"remove_console_access": False}, "remove no console password"),
    "console of another user": ("remove_console_access_is_its_own_irreversible_change", "idle/console",
                                {"calls[0].params.UserName": "victim"}, None, "calls[0].params.UserName: 'victim'"),
    "console as another call": ("remove_console_access_is_its_own_irreversible_change", "idle/console",
                                {"calls[0].operation": "delete_user"}, None, "calls[0].operation: 'delete_user'"),
    "delete in disable mode": ("delete_removes_dependents_in_order", "old", {}, {"action": "disable"},
                               "delete no user"),
    "delete of an unquarantined user by delete_after_days": (
        "delete_removes_dependents_in_order", "old", {}, {"action": "disable", "delete_after_days": 30},
        "not quarantined",
    ),
    "delete leaves a certificate": ("delete_removes_dependents_in_order", "old", {"calls[3]": DELETE}, None,
                                    "calls: 13 item(s) where the task's args plan 14"),
    "delete of another user": ("delete_removes_dependents_in_order", "old", {"calls[12].params.UserName": "victim"},
                               None, "calls[12].params.UserName: 'victim'"),
    "delete names another user": ("delete_removes_dependents_in_order", "old", {"before.UserName": "victim"}, None,
                                  "before.UserName: 'victim' is not the change's user 'old'"),
    "delete with a stray key": ("delete_removes_dependents_in_order", "old", {"before.ActiveKeys": ["AKIAX"]}, None,
                                "'AKIAX' is not among the user's Keys"),
    "delete with groups unsorted": ("delete_removes_dependents_in_order", "old", {"before.Groups": ["devs", "admins"]},
                                    None, "before.Groups[0]: 'devs' where the task's args plan 'admins'"),
    "delete with a dependent list missing": ("delete_removes_dependents_in_order", "old",
                                             {"before.MFADevices": DELETE}, None, "before.MFADevices: missing"),
    "delete of a user used since its quarantine": (
        "delete_after_days_deletes_only_quiet_quarantined_users", "due",
        {"before.LastActivity": "2026-04-02T00:00:00+00:00"}, None, "used since its quarantine on 2026-04-01",
    ),
    "delete with an undo": ("delete_removes_dependents_in_order", "old",
                            {"undo": [{"service": "iam", "operation": "delete_user", "params": {"UserName": "v"}}]},
                            None, "undo: "),
}  # fmt: skip

BROAD = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
INLINE: dict[str, tuple[str, str, dict[str, Any], dict[str, Any] | None, str]] = {
    "put another document": ("update_user_policy_undo_puts_old", "user/alice/artifacts",
                             {"calls[0].params.PolicyDocument": _policy_text(BROAD)}, None,
                             "calls[0].params.PolicyDocument"),
    "put on another user": ("update_user_policy_undo_puts_old", "user/alice/artifacts",
                            {"calls[0].params.UserName": "victim"}, None, "calls[0].params.UserName: 'victim'"),
    "put under another name": ("update_user_policy_undo_puts_old", "user/alice/artifacts",
                               {"calls[0].params.PolicyName": "other"}, None, "calls[0].params.PolicyName: 'other'"),
    "put on a role": ("update_user_policy_undo_puts_old", "user/alice/artifacts",
                      {"calls[0].operation": "put_role_policy"}, None, "calls[0].operation: 'put_role_policy'"),
    "after another document": ("update_user_policy_undo_puts_old", "user/alice/artifacts",
                               {"after.Document": BROAD}, None, "after.Document"),
    "undo another document": ("update_user_policy_undo_puts_old", "user/alice/artifacts",
                              {"undo[0].params.PolicyDocument": _policy_text(BROAD)}, None,
                              "undo[0].params.PolicyDocument"),
    "undo deletes": ("update_user_policy_undo_puts_old", "user/alice/artifacts",
                     {"undo[0].operation": "delete_user_policy"}, None, "undo[0].operation"),
    "resource of another user": ("update_user_policy_undo_puts_old", "user/alice/artifacts",
                                 {"resource": "user/bob/artifacts"}, None, "resource: 'user/bob/artifacts'"),
    "before not a document": ("update_user_policy_undo_puts_old", "user/alice/artifacts",
                              {"before.Document": "{}"}, None, "before.Document"),
    "before already what the args want": ("update_user_policy_undo_puts_old", "user/alice/artifacts", {},
                                          {"document": "<before>"}, "plan no change"),
    "new policy without its undo": ("put_new_on_role", "role/deploy/artifacts", {"undo": None}, None, "undo: null"),
    "new policy undone by a put": ("put_new_on_role", "role/deploy/artifacts", {"undo[0].operation": "put_role_policy"},
                                   None, "undo[0].operation"),
    "a create with a before-image": ("put_new_on_role", "role/deploy/artifacts", {"before": {"Document": BROAD}}, None,
                                     "action: 'create' where the task's args plan 'update'"),
    "delete the args keep": ("absent_deletes_undo_puts_back", "group/ops/artifacts", {},
                             {"state": "present", "document": BROAD}, "action: 'delete' where the task's args plan"),
}  # fmt: skip

TRAIL_ARN = "arn:aws:cloudtrail:us-east-1:123456789012:trail/account-trail"
NEW, UPDATED, EXISTING = (
    "from_nothing_in_eu_west_1",
    "trail_updated_in_place_keeps_data_event_selectors",
    ("existing_bucket_keeps_its_statements_and_rules"),
)
BUCKET = "bucket/cloudtrail-logs-123456789012"
TRAIL: dict[str, tuple[str, str, dict[str, Any], dict[str, Any] | None, str]] = {
    "bucket in another region": (NEW, BUCKET, {"calls[0].params.CreateBucketConfiguration.LocationConstraint":
                                               "us-west-2"}, None, "LocationConstraint: 'us-west-2'"),
    "bucket the args do not create": (NEW, BUCKET, {}, {"create_bucket": False}, "create_bucket is false"),
    "another bucket": (NEW, BUCKET, {"resource": "bucket/victim"}, None, "neither the task's trail"),
    "public access left open": (NEW, f"{BUCKET}/public-access-block",
                                {"calls[0].params.PublicAccessBlockConfiguration.BlockPublicPolicy": False}, None,
                                "BlockPublicPolicy: false where the task's args plan true"),
    "public access block without a region": (NEW, f"{BUCKET}/public-access-block", {"calls[0].region": None}, None,
                                             "calls[0].region"),
    "public access block the args leave alone": (NEW, f"{BUCKET}/public-access-block", {},
                                                 {"block_public_access": False}, "block_public_access is false"),
    "policy grants more": (
        EXISTING, f"{BUCKET}/policy", {"after.Policy.Statement[2].Action": "s3:*"}, None,
        "after.Policy.Statement[2].Action: 's3:*' where the task's args plan 's3:PutObject'",
    ),
    "policy call grants more": (EXISTING, f"{BUCKET}/policy", {"calls[0].params.Policy": _policy_text(BROAD)}, None,
                                "calls[0].params.Policy.Statement: 1 item(s) where the task's args plan 3"),
    "policy drops the bucket's own statement": (EXISTING, f"{BUCKET}/policy", {"after.Policy.Statement[0]": DELETE},
                                                None, "after.Policy.Statement: 2 item(s)"),
    "policy for another trail": (
        EXISTING, f"{BUCKET}/policy",
        {"after.Policy.Statement[1].Condition.StringEquals.aws:SourceArn": TRAIL_ARN.replace("account-trail", "x")},
        None, "is not the ARN of trail account-trail in us-east-1",
    ),
    "policy without CloudTrail's statements": (EXISTING, f"{BUCKET}/policy", {"after.Policy.Statement[2]": DELETE},
                                               None, "CloudTrail's two statements"),
    "policy for another folder": (
        EXISTING, f"{BUCKET}/policy",
        {"after.Policy.Statement[2].Resource": "arn:aws:s3:::cloudtrail-logs-123456789012/x/AWSLogs/123456789012/*"},
        None, "is not the log folder of the task's s3_key_prefix",
    ),
    "policy undo edited": (EXISTING, f"{BUCKET}/policy", {"undo[0].params.Policy": _policy_text(BROAD)}, None,
                           "undo[0].params.Policy.Statement[0].Action: '*'"),
    "lifecycle expires sooner": (EXISTING, f"{BUCKET}/lifecycle", {"calls[0].params.LifecycleConfiguration.Rules[2]."
                                                                   "Expiration.Days": 1}, None, ".Expiration.Days: 1"),
    "lifecycle drops a rule": (EXISTING, f"{BUCKET}/lifecycle",
                               {"undo[0].params.LifecycleConfiguration.Rules[0]": DELETE}, None,
                               "undo[0].params.LifecycleConfiguration"),
    "lifecycle the args do not ask": (EXISTING, f"{BUCKET}/lifecycle", {}, {"retention_days": None},
                                      "names no retention_days"),
    "trail created single-region": (NEW, "trail/account-trail", {"calls[0].params.IsMultiRegionTrail": False}, None,
                                    "calls[0].params.IsMultiRegionTrail: false where the task's args plan true"),
    "trail created without waiting": (NEW, "trail/account-trail", {"calls[0].wait_for": []}, None,
                                      "calls[0].wait_for: 0 item(s)"),
    "trail update of another trail": (UPDATED, "trail/account-trail",
                                      {"calls[0].params.Name": TRAIL_ARN.replace("account-trail", "other")}, None,
                                      "is not the ARN of trail account-trail in us-east-1"),
    "trail update undone wrong": (UPDATED, "trail/account-trail", {"undo[0].params.IsMultiRegionTrail": True}, None,
                                  "undo[0].params.IsMultiRegionTrail: true where the task's args plan false"),
    "trail update of a field already right": (UPDATED, "trail/account-trail", {"before.IsMultiRegionTrail": True},
                                              None, "before.IsMultiRegionTrail: not planned by the task's args"),
    "trail deleted": (UPDATED, "trail/account-trail", {"action": "delete"}, None, "state: absent"),
    "selectors drop the data events": (UPDATED, "trail/account-trail/event-selectors",
                                       {"calls[0].params.EventSelectors[1]": DELETE}, None,
                                       "calls[0].params.EventSelectors: 1 item(s) where the task's args plan 2"),
    "selectors without an undo": (UPDATED, "trail/account-trail/event-selectors", {"undo": None}, None, "undo: null"),
    "selectors the args refuse": (UPDATED, "trail/account-trail/event-selectors",
                                  {"before.AdvancedEventSelectors": [{"Name": "x", "FieldSelectors": []}]}, None,
                                  "advanced event selectors"),
    "logging stopped": (UPDATED, "trail/account-trail/logging", {"calls[0].operation": "stop_logging"}, None,
                        "calls[0].operation: 'stop_logging' where the task's args plan 'start_logging'"),
    "logging already on": (UPDATED, "trail/account-trail/logging", {"before.IsLogging": True}, None,
                           "plan no change"),
    "absent deletes the bucket's policy": (EXISTING, f"{BUCKET}/policy", {}, {"state": "absent"},
                                           "deletes the trail and changes nothing else"),
    "a piece that does not exist": (UPDATED, "trail/account-trail/logging", {"resource": "trail/account-trail/x"},
                                    None, "not a piece of a trail"),
}  # fmt: skip

EDITS = {"iam_roles": ROLES, "iam_users": USERS, "iam_inline_policy": INLINE, "cloudtrail": TRAIL}


def edit_cases() -> list[Any]:
    return [
        pytest.param(module, *spec, id=f"{module}: {name}")
        for module, table in EDITS.items()
        for name, spec in table.items()
    ]


@pytest.mark.parametrize(("module", "name", "resource", "edits", "args", "says"), edit_cases())
def test_an_edited_change_is_refused_naming_what_is_wrong(
    module: str, name: str, resource: str, edits: dict[str, Any], args: dict[str, Any] | None, says: str
) -> None:
    problem = refusal(module, name, resource, edits, args)
    assert problem is not None, "accepted"
    assert says in problem, problem
    assert "\n" not in problem and len(problem) < 400


def test_an_inline_document_is_compared_by_meaning() -> None:
    """A put whose document is the args' in another form (order, whitespace, one action as a list) passes."""
    args, (change,) = planned("iam_inline_policy", "update_user_policy_undo_puts_old")
    document = json.loads(change.calls[0].params["PolicyDocument"])
    statement = document["Statement"][0]
    reordered = {"Statement": [{**statement, "Action": list(reversed(statement["Action"]))}], "Version": "2012-10-17"}
    same = edited(change, {"calls[0].params.PolicyDocument": json.dumps(reordered, indent=4)})
    assert registry.get("iam_inline_policy").check_change(args, same) is None


def test_the_day_a_disable_writes_is_read_from_its_tags_not_the_clock() -> None:
    """A plan applied days after it was made passes: the quarantine day is data, compared within the change."""
    args, (change,) = planned("iam_users", "disable_plan_and_its_undo")
    later = json.loads(json.dumps(change.to_dict()).replace(DAY, "2026-06-20"))
    assert registry.get("iam_users").check_change(args, Change.from_dict(later)) is None


def test_a_regional_change_is_checked_against_its_own_region() -> None:
    """The same changes under an address of another region: the trail's pieces and the bucket's creation
    name the wrong region (and trail ARN); the bucket's other pieces go to the bucket's own region, whatever
    the account's."""
    args, changes = planned("cloudtrail", NEW)
    refused = set()
    for change in changes:
        moved = edited(change, {"address": change.address.replace("acct/eu-west-1/", "acct/us-east-1/")})
        if registry.get("cloudtrail").check_change(args, moved) is not None:
            refused.add(change.resource)
    pieces = {c.resource for c in changes}
    assert pieces - refused == {f"{BUCKET}/public-access-block", f"{BUCKET}/lifecycle"}


@pytest.mark.parametrize("module", FINDINGS_ONLY)
def test_modules_that_plan_no_write_need_no_hook(module: str) -> None:
    """These modules only report: no call of theirs passes the plan-file reader, so no change of theirs can."""
    mod = registry.get(module)
    assert mod.permissions["write"] == [] and mod.write_permissions({}) == []
    problem = planfile.call_problem(module, ApiCall("iam", "delete_user", {"UserName": "victim"}))
    assert problem is not None and "is not one module may make" in problem


def test_the_edits_above_start_from_changes_that_pass() -> None:
    """Every edit table names a change its case really plans (so a refusal above is the edit's doing)."""
    for module, table in EDITS.items():
        for name, resource, _, _, _ in table.values():
            args, changes = planned(module, name)
            (change,) = [c for c in changes if c.resource == resource]
            assert registry.get(module).check_change(args, copy.deepcopy(change)) is None


# ------------------------------------------------------------------ a generated fuzz

# One real change of each kind. Edits that may pass: what the plan-file reader checks itself (the address
# and module), display text the re-plan does not decide (a sweep's reason), and image data the applier
# compares with the live resource before it writes and a delete's calls do not follow from (dates of
# creation and last use, a tag's value, which keys are active, the quarantine policy): a change edited
# there is stale at apply. A policy document of iam_inline_policy may change its form, not its meaning.
FUZZED = (
    ("iam_roles", "cap_with_allow_caller_impact_names_the_callers"),
    ("iam_roles", "unused_deleted_with_cleanup"),
    ("iam_users", "disable_plan_and_its_undo"),
    ("iam_users", "delete_removes_dependents_in_order"),
    ("iam_users", "remove_console_access_is_its_own_irreversible_change"),
    ("iam_inline_policy", "update_user_policy_undo_puts_old"),
    ("iam_inline_policy", "put_new_on_role"),
    ("cloudtrail", NEW),
    ("cloudtrail", UPDATED),
    ("cloudtrail", EXISTING),
)
FREE = re.compile(
    r"^(address|module|reason|before\.(CreateDate|LastUsed|LastActivity|QuarantinedAt|ActiveKeys|QuarantinePolicy))$"
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _leaves(node: Any, where: str = "") -> list[str]:
    found = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        path = f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else str(key)
        found += [path, *_leaves(value, path)]
    return found


def _documents(change: dict[str, Any]) -> list[Any]:
    """The policy documents an inline policy change holds, in order (None where one is missing)."""
    images = [(change.get(i) or {}).get("Document") for i in ("before", "after") if isinstance(change.get(i), dict)]
    calls = [c.get("params", {}).get("PolicyDocument") for k in ("calls", "undo") for c in change.get(k) or []]
    return images + calls


def _same_meaning(old: Any, new: Any) -> bool:
    try:
        return old is None and new is None or policydoc.equivalent(old, new)
    except (ValueError, TypeError, AttributeError):
        return False


def fuzzed_cases() -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    found = []
    for module, name in FUZZED:
        args, changes = planned(module, name)
        found += [(module, args, json.loads(json.dumps(c.to_dict(), sort_keys=True)), {}) for c in changes]
    return found


CHANGES = fuzzed_cases()


@settings(max_examples=400, derandomize=True, database=None, deadline=None)
@given(data=st.data())
def test_a_fuzzed_change_is_refused_in_one_line_or_is_what_was_planned(data: st.DataObject) -> None:
    module, args, original, _ = data.draw(st.sampled_from(CHANGES))
    change = copy.deepcopy(original)
    path = data.draw(st.sampled_from(_leaves(change)))
    *parents, last = _steps(path)
    node: Any = change
    for step in parents:
        node = node[step]
    if isinstance(last, str) and data.draw(st.booleans()):
        del node[last]
    else:
        node[last] = data.draw(JSON)
    try:
        planfile._check_node(change, planfile._CHANGE)  # the plan-file reader's own shape of a change
    except planfile._Misshapen:
        return  # refused before any module is asked
    edited_change = Change.from_dict(change)
    problem = registry.get(module).check_change(args, edited_change)
    if problem is not None:
        assert isinstance(problem, str) and "\n" not in problem and len(problem) < 400, problem
        return
    read_back = json.loads(json.dumps(edited_change.to_dict(), sort_keys=True))
    if read_back == original or FREE.match(path):  # unchanged, as a change reads it (a null key left out)
        return
    same = module == "iam_inline_policy" and all(
        _same_meaning(a, b) for a, b in zip(_documents(original), _documents(read_back), strict=False)
    )
    assert same, f"accepted {module} {original['resource']}: {path} edited: {read_back}"


# ------------------------------------------------------------------ one named entity: nothing else is touched

ENTITY_EDITS = [
    ("iam_user", "UserName"),
    ("iam_role", "RoleName"),
    ("iam_group", "GroupName"),
    ("iam_policy", "PolicyArn"),
]


@pytest.mark.parametrize(("module", "own"), ENTITY_EDITS)
def test_a_call_edited_to_name_another_entity_is_refused(module: str, own: str) -> None:
    for param in real_changes():
        if param.values[0] != module:
            continue
        args, changes = planned(module, param.values[1])
        for change in changes:
            for label in ("calls", "undo"):
                for i, call in enumerate(getattr(change, label) or ()):
                    if own not in call.params:
                        continue
                    victim = "arn:aws:iam::123456789012:policy/victim" if own == "PolicyArn" else "victim"
                    damaged = edited(change, {f"{label}[{i}].params.{own}": victim})
                    problem = registry.get(module).check_change(args, damaged)
                    assert problem and f"params.{own}" in problem, (param.values[1], label, i)
            moved = edited(change, {"resource": "victim" + change.resource[len(change.resource.split("/")[0]) :]})
            assert "is not about the task's" in (registry.get(module).check_change(args, moved) or "")


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        ({"calls[1].params.UserName": "victim"}, "is not the change's user"),
        ({"calls[1].params.AccessKeyId": "AKIAVICTIM0000000001"}, "is not the change's key"),
        ({"calls[0].params.Tags[0].Key": "remediator:deactivated:AKIAVICTIM0000000001"}, "only the key's own tag"),
        ({"undo[0].params.UserName": "victim"}, "is not the change's user"),
    ],
)
def test_an_access_key_change_edited_to_reach_another_key_is_refused(edit: dict[str, Any], says: str) -> None:
    args, changes = planned("iam_access_keys", "deactivates_the_stale_key_never_its_sibling")
    (change,) = changes
    assert says in (registry.get("iam_access_keys").check_change(args, edited(change, edit)) or "")


ANYONE = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
)
EVERYTHING = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


@pytest.mark.parametrize(
    ("module", "name", "resource", "path", "document"),
    [
        ("iam_role", "update_description_trust_and_boundary", "app", "calls[1].params.PolicyDocument", ANYONE),
        ("iam_role", "create_with_every_field", "app", "calls[0].params.AssumeRolePolicyDocument", ANYONE),
        ("iam_role", "inline_policy_updated_and_others_kept", "app/inline/s3-read", "calls[0].params.PolicyDocument",
         EVERYTHING),
        ("iam_role", "inline_policy_updated_and_others_kept", "app/inline/s3-read", "undo[0].params.PolicyDocument",
         EVERYTHING),
        ("iam_group", "create_with_everything", "ops/inline/no-iam", "calls[0].params.PolicyDocument", EVERYTHING),
        ("iam_policy", "update_document_new_default_version", "app-read", "calls[0].params.PolicyDocument",
         EVERYTHING),
    ],
)  # fmt: skip
def test_a_document_edited_in_a_plan_is_refused(
    module: str, name: str, resource: str, path: str, document: str
) -> None:
    args, changes = planned(module, name)
    (change,) = [c for c in changes if c.resource == resource]
    assert registry.get(module).check_change(args, change) is None
    problem = registry.get(module).check_change(args, edited(change, {path: document}))
    assert problem and path.split(".")[0] in problem and "not a document" in problem


def test_a_role_session_lengthened_in_a_plan_is_refused() -> None:
    args, changes = planned("iam_role", "update_description_trust_and_boundary")
    (change,) = [c for c in changes if c.resource == "app"]
    index = next(i for i, c in enumerate(change.calls) if c.operation == "update_role")
    for param, value in (("MaxSessionDuration", 43200), ("Description", "edited")):
        if param in change.calls[index].params:
            problem = registry.get("iam_role").check_change(
                args, edited(change, {f"calls[{index}].params.{param}": value})
            )
            assert problem and param in problem


@pytest.mark.parametrize(
    ("module", "name", "path", "value"),
    [
        ("iam_role", "create_with_every_field", "calls[0].params.Path", "/elsewhere/"),
        ("iam_role", "create_with_every_field", "calls[0].params.Tags[0].Value", "false"),
        ("iam_role", "update_description_trust_and_boundary", "calls[2].params.PermissionsBoundary",
         "arn:aws:iam::aws:policy/AdministratorAccess"),
        ("iam_user", "create_with_every_field", "calls[0].params.Path", "/elsewhere/"),
    ],
)  # fmt: skip
def test_a_setting_edited_in_a_plan_is_refused(module: str, name: str, path: str, value: Any) -> None:
    args, changes = planned(module, name)
    change = changes[0]
    assert registry.get(module).check_change(args, change) is None
    problem = registry.get(module).check_change(args, edited(change, {path: value}))
    assert problem and "where the task's args say" in problem
