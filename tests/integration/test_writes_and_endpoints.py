"""Writes carry only the fields a change compared; emulator corrections never reach real endpoints."""

from __future__ import annotations

import json

import pytest

from remediator.aws.retry import RetryPolicy
from remediator.aws.session import AccountSession, is_loopback
from remediator.errors import AwsError
from remediator.model import Account
from tests.conftest import cli, write, write_inventory
from tests.faults import Inject, query_error

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)
CAP_SWEEP = """\
- accounts: all
  tasks:
    - name: Cap sessions
      iam_roles: {max_session_duration: 3600}
"""
ONE_ROLE = """\
- accounts: all
  tasks:
    - name: App role
      iam_role: {name: app, max_session_duration: 3600}
"""


@pytest.mark.parametrize("book", [CAP_SWEEP, ONE_ROLE], ids=["iam_roles", "iam_role"])
def test_apply_keeps_a_description_edited_after_the_plan(iam, aws, workdir, calls, book):
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=TRUST, MaxSessionDuration=43200, Description="v1")
    inv, play = write_inventory(workdir, aws), write(workdir, "play.yml", book)
    assert cli("run", play, "-i", inv, "--check", "--plan-out", "plan.json").code == 2
    iam.update_role(RoleName="app", Description="edited between plan and apply")

    applied = cli("apply", "plan.json")

    assert applied.code == 0, applied.out + applied.err
    role = iam.get_role(RoleName="app")["Role"]
    assert role["MaxSessionDuration"] == 3600
    assert role["Description"] == "edited between plan and apply"
    sent = [c for c in calls.records if c[2] == "UpdateRole"]
    assert len(sent) == 1


def test_rollback_restores_the_session_length_and_keeps_a_later_description(iam, aws, workdir):
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=TRUST, MaxSessionDuration=43200, Description="v1")
    inv, play = write_inventory(workdir, aws), write(workdir, "play.yml", CAP_SWEEP)
    assert cli("run", play, "-i", inv, "--journal", "j.jsonl").code == 0
    iam.update_role(RoleName="app", Description="edited after the run")

    undone = cli("rollback", "j.jsonl")

    assert undone.code == 0, undone.out + undone.err
    role = iam.get_role(RoleName="app")["Role"]
    assert role["MaxSessionDuration"] == 43200
    assert role["Description"] == "edited after the run"


def test_loopback_endpoints_are_the_only_emulator_endpoints():
    assert is_loopback("http://127.0.0.1:5000") and is_loopback("http://localhost:4566")
    assert not is_loopback("https://iam.amazonaws.com")
    assert not is_loopback("https://vpce-0123-abcd.iam.us-east-1.vpce.amazonaws.com")
    assert not is_loopback("https://iam-fips.amazonaws.com")
    assert not is_loopback(None)


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_a_real_endpoint_gets_no_placeholder_credentials(no_credentials):
    account = Account("prod", endpoint_url="https://vpce-0123-abcd.iam.us-east-1.vpce.amazonaws.com")
    session = AccountSession(account, read_only=True, policy=RetryPolicy(attempts=1))
    assert session.access_key_id() is None


def test_a_loopback_endpoint_without_credentials_gets_the_emulators(no_credentials, aws):
    session = AccountSession(Account("demo", endpoint_url=aws), read_only=True)
    assert session.access_key_id() == "testing"


def test_a_real_endpoint_gets_no_made_up_answer(aws):
    """ListServiceSpecificCredentials is answered by the emulator itself; a client pointed anywhere else
    sends the request (here: to a host that does not resolve) instead of receiving an invented empty list."""
    account = Account("prod", endpoint_url="https://iam.remediator-test.invalid")
    session = AccountSession(account, read_only=True, policy=RetryPolicy(attempts=1, total_seconds=5))
    with pytest.raises(AwsError):
        session.client("iam").call("list_service_specific_credentials", UserName="alice")


def test_the_emulator_answers_service_specific_credentials_itself(iam, aws):
    iam.create_user(UserName="alice")
    session = AccountSession(Account("demo", endpoint_url=aws), read_only=True)
    answer = session.client("iam").call("list_service_specific_credentials", UserName="alice")
    assert answer["ServiceSpecificCredentials"] == []
    with pytest.raises(AwsError, match="NoSuchEntity"):
        session.client("iam").call("list_service_specific_credentials", UserName="nobody")


def test_service_specific_credentials_are_read_page_by_page(iam, aws, client_hooks):
    """botocore has no paginator for ListServiceSpecificCredentials, but AWS pages it (Marker/IsTruncated)."""
    iam.create_user(UserName="alice")
    markers: list[str | None] = []

    def truncate(client):
        def before(params, **_):
            markers.append(params.get("Marker"))

        def after(parsed, **_):
            first = len(markers) == 1
            parsed["ServiceSpecificCredentials"] = [
                {
                    "ServiceSpecificCredentialId": "ACCA" + ("1" if first else "2") * 16,
                    "UserName": "alice",
                    "ServiceName": "codecommit.amazonaws.com",
                    "ServiceUserName": "alice-at-1",
                    "Status": "Active",
                    "CreateDate": "2026-01-01T00:00:00Z",
                }
            ]
            parsed["IsTruncated"] = first
            if first:
                parsed["Marker"] = "page-2"

        client.meta.events.register("before-parameter-build.iam.ListServiceSpecificCredentials", before)
        client.meta.events.register("after-call.iam.ListServiceSpecificCredentials", after)

    client_hooks.append(truncate)
    client = AccountSession(Account("demo", endpoint_url=aws), read_only=True).client("iam")
    pages = list(client.pages("list_service_specific_credentials", UserName="alice"))
    ids = [c["ServiceSpecificCredentialId"] for page in pages for c in page["ServiceSpecificCredentials"]]
    assert markers == [None, "page-2"]
    assert ids == ["ACCA" + "1" * 16, "ACCA" + "2" * 16]


# --- IAM is eventually consistent -----------------------------------------------------------------------

NEW_POLICY = """\
- accounts: all
  tasks:
    - name: Deploy policy
      iam_policy:
        name: deploy
        document: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:GetObject", Resource: "*"}]}
        attach_to: {roles: [app]}
"""
NEW_ROLE = """\
- accounts: all
  tasks:
    - name: App role
      iam_role:
        name: fresh
        trust_policy:
          Version: "2012-10-17"
          Statement: [{Effect: Allow, Principal: {Service: ec2.amazonaws.com}, Action: "sts:AssumeRole"}]
        inline_policies:
          read: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:GetObject", Resource: "*"}]}
"""


def _not_yet(service_operation: str, times: int = 1) -> Inject:
    return Inject("iam", service_operation, lambda: query_error("NoSuchEntity", "not found", 404), times=times)


def test_attach_right_after_create_policy_waits_for_iam(iam, aws, workdir, client_hooks, calls):
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=TRUST)
    inject = _not_yet("AttachRolePolicy")
    client_hooks.append(inject)
    inv, play = write_inventory(workdir, aws), write(workdir, "play.yml", NEW_POLICY)

    result = cli("run", play, "-i", inv)

    assert result.code == 0, result.out + result.err
    assert inject.seen == 2  # the first attempt saw NoSuchEntity, the retry went through
    attached = iam.list_attached_role_policies(RoleName="app")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["deploy"]


def test_put_role_policy_right_after_create_role_waits_for_iam(iam, aws, workdir, client_hooks):
    inject = _not_yet("PutRolePolicy", times=2)
    client_hooks.append(inject)
    inv, play = write_inventory(workdir, aws), write(workdir, "play.yml", NEW_ROLE)

    result = cli("run", play, "-i", inv)

    assert result.code == 0, result.out + result.err
    assert iam.list_role_policies(RoleName="fresh")["PolicyNames"] == ["read"]


def test_no_such_entity_for_an_entity_the_run_did_not_create_fails_at_once(iam, aws, workdir, client_hooks):
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=TRUST, MaxSessionDuration=43200)
    inject = _not_yet("UpdateRole", times=None)
    client_hooks.append(inject)
    inv, play = write_inventory(workdir, aws), write(workdir, "play.yml", CAP_SWEEP)

    result = cli("run", play, "-i", inv)

    assert result.code == 1
    assert inject.seen == 1
    assert "NoSuchEntity" in result.err
