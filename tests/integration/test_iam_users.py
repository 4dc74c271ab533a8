"""iam_users (the sweep) end to end through the CLI, against the emulator over HTTP.

Time-dependent facts (user creation, password and key last use) are set in-process on moto's backend
(tests/emulator.py). What the emulator does not do is injected: it deletes users that still have
dependents (AWS answers DeleteConflict, `tests.faults.UserDeleteConflict`), and it cannot create
service-specific credentials (its ListServiceSpecificCredentials always answers none), so those are
answered here from a fake store.
"""

from __future__ import annotations

import json

import pytest

from remediator.keys import QUARANTINE_TAG
from remediator.modules.iam_users import QUARANTINE_POLICY
from tests.conftest import cli, write, write_inventory
from tests.emulator import (
    PASSWORD,
    SSH_KEY,
    age_key,
    age_user,
    days_ago,
    has_login_profile,
    keep_key_dates,
    self_signed_certificate,
    sign_as,
    sign_in,
    today,
    user_names,
)
from tests.faults import UserDeleteConflict, query_ok, request_form

DISABLE = "- tasks:\n    - name: quarantine\n      iam_users: {unused_days: 90, action: disable}\n"
S3_DENY = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}
pytestmark = pytest.mark.usefixtures("pinned_clock")  # "now" is one instant for the product and the test


def make_user(iam, name: str, created: int, *, keys: tuple[int | None, ...] = (), signed_in: int | None = None):
    """A user created `created` days ago with one key per entry of `keys` (days since last use, or None)."""
    iam.create_user(UserName=name)
    ids = []
    for used in keys:
        key = iam.create_access_key(UserName=name)["AccessKey"]
        age_key(key["AccessKeyId"], created, used)
        ids.append(key["AccessKeyId"])
    age_user(name, created, signed_in)
    return ids


def key_status(iam, name: str) -> dict[str, str]:
    return {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]}


def tags(iam, name: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name)["Tags"]}


class ServiceCredentials:
    """ListServiceSpecificCredentials / DeleteServiceSpecificCredential as AWS answers them for a user that
    has such credentials (the emulator cannot create any), from a store of user → credential ids."""

    def __init__(self) -> None:
        self.store: dict[str, list[str]] = {}

    def __call__(self, client) -> None:
        client.meta.events.register("before-send.iam.ListServiceSpecificCredentials", self._list)
        client.meta.events.register("before-send.iam.DeleteServiceSpecificCredential", self._delete)

    def _list(self, request, **_):
        user = request_form(request)["UserName"]
        members = "".join(
            f"<member><UserName>{user}</UserName><Status>Active</Status><ServiceUserName>{user}-at-1</ServiceUserName>"
            f"<CreateDate>2020-01-01T00:00:00Z</CreateDate><ServiceSpecificCredentialId>{cid}"
            "</ServiceSpecificCredentialId><ServiceName>codecommit.amazonaws.com</ServiceName></member>"
            for cid in self.store.get(user, [])
        )
        return query_ok(
            "ListServiceSpecificCredentials", f"<ServiceSpecificCredentials>{members}</ServiceSpecificCredentials>"
        )

    def _delete(self, request, **_):
        form = request_form(request)
        self.store.get(form["UserName"], []).remove(form["ServiceSpecificCredentialId"])
        return query_ok("DeleteServiceSpecificCredential", "")


@pytest.fixture
def credentials(client_hooks) -> ServiceCredentials:
    fake = ServiceCredentials()
    client_hooks.append(fake)
    return fake


def findings_of(result) -> dict[str, list[dict]]:
    report = json.loads(result.out)
    out: dict[str, list[dict]] = {}
    for account in report["accounts"]:
        for plan in account["tasks"]:
            for finding in plan["findings"]:
                out.setdefault(finding["resource"], []).append(finding)
    return out


# --- tests ---------------------------------------------------------------------------------------------


def test_four_steps_disable_quarantines_only_unused_users(iam, aws, workdir, calls):
    stale_keys = make_user(iam, "stale", 400, keys=(None, 200))
    busy_keys = make_user(iam, "busy", 400, keys=(1,))
    make_user(iam, "console", 400, signed_in=2)
    iam.create_login_profile(UserName="console", Password=PASSWORD)
    make_user(iam, "young", 10)
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", DISABLE)

    first = cli("run", book, "-i", inv, "--check")
    assert first.code == 2, first.out + first.err
    assert "disable unused user stale" in first.out
    for other in ("busy", "console", "young"):
        assert f"user {other}" not in first.out
    assert calls.mutating == []

    second = cli("run", book, "-i", inv)
    assert second.code == 0, second.out + second.err
    assert set(key_status(iam, "stale").values()) == {"Inactive"}
    assert iam.list_user_policies(UserName="stale")["PolicyNames"] == [QUARANTINE_POLICY]
    document = iam.get_user_policy(UserName="stale", PolicyName=QUARANTINE_POLICY)["PolicyDocument"]
    assert document["Statement"][0]["Effect"] == "Deny"
    stale_tags = tags(iam, "stale")
    assert stale_tags[QUARANTINE_TAG] == today()
    assert {f"remediator:deactivated:{k}" for k in stale_keys} <= set(stale_tags)
    assert key_status(iam, "busy") == {busy_keys[0]: "Active"}
    for other in ("busy", "console", "young"):
        assert iam.list_user_policies(UserName=other)["PolicyNames"] == [] and tags(iam, other) == {}
    assert set(calls.mutating) == {"PutUserPolicy", "UpdateAccessKey", "TagUser"}

    calls.clear()
    third = cli("run", book, "-i", inv)
    assert third.code == 0, third.out + third.err
    assert calls.mutating == []
    fourth = cli("run", book, "-i", inv, "--check")
    assert fourth.code == 0 and "would change" not in fourth.out, fourth.out


def test_disable_then_rollback_restores_keys_and_removes_policy_and_tag(iam, aws, workdir):
    keys = make_user(iam, "stale", 400, keys=(None, 300))
    iam.create_login_profile(UserName="stale", Password=PASSWORD)
    iam.update_access_key(UserName="stale", AccessKeyId=keys[1], Status="Inactive")  # not ours to re-activate
    inv = write_inventory(workdir, aws)
    book = write(
        workdir,
        "play.yml",
        "- tasks:\n    - iam_users: {unused_days: 90, action: disable, remove_console_access: true}\n",
    )
    journal = workdir / "run.journal"
    applied = cli("run", book, "-i", inv, "--journal", journal, "--format", "json", "--report", workdir / "r.json")
    assert applied.code == 0, applied.out + applied.err
    assert key_status(iam, "stale") == {keys[0]: "Inactive", keys[1]: "Inactive"}
    assert not has_login_profile(iam, "stale")
    assert "cannot be undone" in (workdir / "r.json").read_text()

    check = cli("rollback", journal, "--check")
    assert check.code == 2, check.out + check.err
    back = cli("rollback", journal)
    assert back.code == 0, back.out + back.err
    assert "cannot undo" in back.out and "/console" in back.out  # the password is gone for good, and says so
    assert key_status(iam, "stale") == {keys[0]: "Active", keys[1]: "Inactive"}
    assert iam.list_user_policies(UserName="stale")["PolicyNames"] == []
    assert tags(iam, "stale") == {}
    assert cli("rollback", journal, "--check").code == 0

    # Secrets never reach output, reports or journals (the password was set above; key secrets never read).
    texts = [applied.out, applied.err, back.out, journal.read_text(), (workdir / "r.json").read_text()]
    assert not any(PASSWORD in text for text in texts)
    assert not any("SecretAccessKey" in text for text in texts)


def test_quarantined_users_are_deleted_after_the_window_only_when_quiet(iam, aws, workdir, credentials):
    make_user(iam, "gone", 400, keys=(200,))
    make_user(iam, "returned", 400, keys=(None,))
    inv = write_inventory(workdir, aws)
    assert cli("run", write(workdir, "d.yml", DISABLE), "-i", inv).code == 0
    assert QUARANTINE_TAG in tags(iam, "gone") and QUARANTINE_TAG in tags(iam, "returned")

    book = write(
        workdir,
        "play.yml",
        "- tasks:\n    - iam_users: {unused_days: 90, action: disable, delete_after_days: 30}\n",
    )
    waiting = cli("run", book, "-i", inv)
    assert waiting.code == 0, waiting.out + waiting.err
    assert "not yet due for deletion" in waiting.out
    assert user_names(iam) == ["gone", "returned"]

    for name in ("gone", "returned"):  # age the quarantine
        iam.tag_user(UserName=name, Tags=[{"Key": QUARANTINE_TAG, "Value": days_ago(40).date().isoformat()}])
    sign_in("returned", 5)  # signed in after its quarantine

    check = cli("run", book, "-i", inv, "--check")
    assert check.code == 2 and "delete user gone" in check.out and "cannot be undone" in check.out
    result = cli("run", book, "-i", inv)
    assert result.code == 2, result.out + result.err  # deleted one; the other is reported for review
    assert "returned was not deleted" in result.out and "used since" in result.out
    assert user_names(iam) == ["returned"]


def test_delete_removes_dependents_in_the_order_aws_requires(iam, aws, workdir, calls, client_hooks, credentials):
    make_user(iam, "old", 500, keys=(300, None), signed_in=200)
    iam.create_login_profile(UserName="old", Password=PASSWORD)
    iam.upload_signing_certificate(UserName="old", CertificateBody=self_signed_certificate())
    iam.upload_ssh_public_key(UserName="old", SSHPublicKeyBody=SSH_KEY)
    credentials.store["old"] = ["ACCAOLDCODECOMMIT12345"]
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="old-mfa")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(
        UserName="old", SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )
    iam.create_group(GroupName="devs")
    iam.add_user_to_group(GroupName="devs", UserName="old")
    iam.put_user_policy(UserName="old", PolicyName="inline", PolicyDocument=json.dumps(S3_DENY))
    arn = iam.create_policy(
        PolicyName="p",
        PolicyDocument=json.dumps(S3_DENY),
    )["Policy"]["Arn"]
    iam.attach_user_policy(UserName="old", PolicyArn=arn)
    make_user(iam, "busy", 500, keys=(1,))
    hook = UserDeleteConflict(iam, credentials.store)
    client_hooks.append(hook)
    assert hook.remaining("old")  # the injected conflict would bite a naive delete
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", "- tasks:\n    - iam_users: {unused_days: 90, action: delete}\n")

    check = cli("run", book, "-i", inv, "--check")
    assert check.code == 2 and "delete user old" in check.out and "cannot be undone" in check.out
    assert calls.mutating == []

    calls.clear()
    result = cli("run", book, "-i", inv)
    assert result.code == 0, result.out + result.err
    assert hook.seen == 1 and hook.conflicts == []
    assert user_names(iam) == ["busy"]
    assert iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []
    assert calls.mutating == [
        "DeleteLoginProfile",
        "DeleteAccessKey",
        "DeleteAccessKey",
        "DeleteSigningCertificate",
        "DeleteSSHPublicKey",
        "DeleteServiceSpecificCredential",
        "DeactivateMFADevice",
        "DeleteVirtualMFADevice",
        "RemoveUserFromGroup",
        "DeleteUserPolicy",
        "DetachUserPolicy",
        "DeleteUser",
    ]
    # Dependents were listed for the deleted user only: at planning and at the apply-time re-read.
    assert calls.count("ListSigningCertificates") == 2  # plan + apply-time re-read, never for "busy"

    calls.clear()
    again = cli("run", book, "-i", inv)
    assert again.code == 0 and calls.mutating == []


def test_the_run_never_touches_its_own_user(iam, aws, workdir, calls, monkeypatch):
    own_key = iam.create_user(UserName="runner") and iam.create_access_key(UserName="runner")["AccessKey"]
    age_user("runner", 400)
    age_key(own_key["AccessKeyId"], 400, 200)
    # The emulator marks a key used on every request it signs; AWS updates last use with a delay. Keep the
    # run's own key looking unused, so that only the own-identity guard stands between it and a change.
    keep_key_dates(monkeypatch)
    make_user(iam, "stale", 400, keys=(None,))
    sign_as(monkeypatch, own_key)
    inv = write_inventory(workdir, aws)
    result = cli("run", write(workdir, "play.yml", DISABLE), "-i", inv)
    assert result.code == 2, result.out + result.err  # the other user changed; the skipped one stays open
    assert "runner" in result.out and "the run's own credentials" in result.out
    assert key_status(iam, "runner") == {own_key["AccessKeyId"]: "Active"}
    assert tags(iam, "runner") == {} and iam.list_user_policies(UserName="runner")["PolicyNames"] == []
    assert QUARANTINE_TAG in tags(iam, "stale")
    assert own_key["SecretAccessKey"] not in result.out + result.err


def test_disabling_is_capped_by_default_and_by_the_task(iam, aws, workdir, calls):
    for n in range(3):
        make_user(iam, f"stale-{n}", 400, keys=(None,))
    inv = write_inventory(workdir, aws)
    planned = json.loads(cli("run", write(workdir, "d.yml", DISABLE), "-i", inv, "--check", "--format", "json").out)
    assert planned["accounts"][0]["tasks"][0]["max_changes"] == 25

    capped = write(workdir, "c.yml", DISABLE + "      max_changes: 2\n")
    result = cli("run", capped, "-i", inv)
    assert result.code == 1 and "more than its max_changes of 2" in result.out, result.out + result.err
    assert calls.mutating == []
    exactly = write(workdir, "e.yml", DISABLE + "      max_changes: 3\n")
    assert cli("run", exactly, "-i", inv).code == 0


def test_report_mode_findings_carry_evidence_and_cis_ids_and_exit_2(iam, aws, workdir, calls):
    make_user(iam, "stale", 400, keys=(200,))
    make_user(iam, "nomfa", 400, signed_in=1)
    iam.create_login_profile(UserName="nomfa", Password=PASSWORD)
    iam.put_user_policy(UserName="nomfa", PolicyName="own", PolicyDocument=json.dumps(S3_DENY))
    book = write(
        workdir,
        "play.yml",
        "- tasks:\n    - iam_users: {unused_days: 90, require_mfa_for_console: true, forbid_user_policies: true}\n",
    )
    result = cli("run", book, "-i", write_inventory(workdir, aws), "--format", "json")
    assert result.code == 2, result.out + result.err
    found = findings_of(result)
    assert sorted(found) == ["nomfa", "stale"]
    (unused,) = found["stale"]
    assert "200 days ago" in unused["message"] and "CIS v3.0 1.12" in unused["controls"]
    messages = {f["message"]: f["controls"] for f in found["nomfa"]}
    assert any("no MFA" in m and "CIS v5.0 1.9" in c for m, c in messages.items())
    assert any("inline own" in m and "CIS v3.0 1.15" in c for m, c in messages.items())
    assert calls.mutating == []
    assert PASSWORD not in result.out


def test_bad_options_are_refused_before_any_call(aws, workdir, calls):
    book = write(workdir, "play.yml", "- tasks:\n    - iam_users: {unused_days: 90, remove_console_access: true}\n")
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 1 and "remove_console_access" in result.out + result.err
    assert calls.records == []
