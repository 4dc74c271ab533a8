"""Writes whose answer is lost: AWS applies the write, then answers 500 or the connection drops.

The emulator always answers; `LostAnswer` lets a request reach it (sent by the handler itself, over HTTP)
and then replaces the answer with a 500 or a dropped connection, as a load balancer or a reset would. A
retry of a non-idempotent write must not duplicate it (CreatePolicyVersion) nor fail on its own success
(CreateRole → EntityAlreadyExists).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ConnectionClosedError
from botocore.httpsession import URLLib3Session

from remediator.aws import ratelimit, retry
from remediator.aws.retry import OutcomeUnknown
from remediator.aws.session import AccountSession, is_mutating
from remediator.model import Account
from tests.conftest import assert_converged, cli, write, write_inventory
from tests.emulator import TRUST, age_key
from tests.faults import json_error, query_error

ACCOUNT = "123456789012"
DOC_A = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
DOC_B = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}


class LostAnswer:
    """The first `times` calls of `operation` reach the emulator and are applied; then the caller gets a 500
    (`how="500"`) or a connection closed before any answer (`how="reset"`). `after` runs once the write is
    applied and before the answer is lost (someone else's edit in that moment). `seen` counts the requests,
    every one of which reaches the emulator."""

    def __init__(
        self,
        operation: str,
        how: str = "500",
        times: int = 1,
        after: Callable[[], None] | None = None,
        service: str = "iam",
    ) -> None:
        self.event = f"before-send.{service}.{operation}"
        self.how = how
        self.times = times
        self.after = after
        self.seen = 0
        self._http = URLLib3Session()

    def __call__(self, client: Any) -> None:
        client.meta.events.register(self.event, self._send)

    def _send(self, request: Any, **_: Any) -> Any:
        self.seen += 1
        if self.seen > self.times:
            return None
        self._http.send(request)  # it reaches AWS, and AWS applies it
        if self.after is not None:
            self.after()
        if self.how == "reset":
            raise ConnectionClosedError(endpoint_url=request.url)
        return query_error("ServiceUnavailable", "Service Unavailable", 503)


def policy_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:policy/{name}"


def versions(iam: Any, arn: str) -> dict[str, bool]:
    return {v["VersionId"]: v["IsDefaultVersion"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]}


def play(workdir: Any, body: str) -> Any:
    return write(workdir, "play.yml", "- accounts: all\n  tasks:\n" + body)


ROLE = f"    - iam_role: {{name: app, path: /svc/, trust_policy: '{json.dumps(TRUST)}', max_session_duration: 7200}}\n"


@pytest.mark.parametrize("how", ["500", "reset"])
def test_create_role_whose_answer_is_lost_is_applied_once(iam, aws, workdir, calls, client_hooks, how):
    lost = LostAnswer("CreateRole", how)
    client_hooks.append(lost)
    book, inv = play(workdir, ROLE), write_inventory(workdir, aws)
    result = cli("run", book, "-i", inv, "--journal", "run.journal")
    assert result.code == 0, result.out + result.err
    assert "converged" in result.out
    role = iam.get_role(RoleName="app")["Role"]
    assert role["Path"] == "/svc/" and role["MaxSessionDuration"] == 7200
    assert lost.seen == 2  # the lost one, and its repeat answered EntityAlreadyExists: taken as done
    assert_converged(book, inv, calls)
    undone = cli("rollback", "run.journal")
    assert undone.code == 0, undone.out + undone.err
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == []


def test_create_role_lost_then_changed_by_someone_else_is_not_taken_for_ours(iam, aws, workdir, client_hooks):
    other = {**TRUST, "Statement": [{**TRUST["Statement"][0], "Principal": {"Service": "lambda.amazonaws.com"}}]}

    def someone_edits() -> None:
        iam.update_assume_role_policy(RoleName="app", PolicyDocument=json.dumps(other))

    client_hooks.append(LostAnswer("CreateRole", after=someone_edits))
    result = cli("run", play(workdir, ROLE), "-i", write_inventory(workdir, aws))
    assert result.code == 1, result.out + result.err
    assert "role app" in result.err and "differs" in result.err
    assert "Traceback" not in result.err
    assert iam.get_role(RoleName="app")["Role"]["AssumeRolePolicyDocument"] == other  # left as found


@pytest.mark.parametrize("how", ["500", "reset"])
def test_create_policy_version_whose_answer_is_lost_makes_one_version(iam, aws, workdir, calls, client_hooks, how):
    iam.create_policy(PolicyName="app-read", PolicyDocument=json.dumps(DOC_A))
    lost = LostAnswer("CreatePolicyVersion", how)
    client_hooks.append(lost)
    book = play(workdir, f"    - iam_policy: {{name: app-read, document: '{json.dumps(DOC_B)}'}}\n")
    inv = write_inventory(workdir, aws)
    result = cli("run", book, "-i", inv, "--journal", "run.journal")
    assert result.code == 0, result.out + result.err
    assert versions(iam, policy_arn("app-read")) == {"v1": False, "v2": True}  # no orphaned v3
    assert lost.seen == 1  # the default version was read: not sent again
    assert_converged(book, inv, calls)
    assert cli("rollback", "run.journal").code == 0
    assert versions(iam, policy_arn("app-read"))["v1"] is True


def test_create_policy_version_lost_at_the_five_version_limit_prunes_once(iam, aws, workdir, calls, client_hooks):
    arn = iam.create_policy(PolicyName="app-read", PolicyDocument=json.dumps(DOC_A))["Policy"]["Arn"]
    for n in range(4):
        doc = {**DOC_A, "Statement": [{**DOC_A["Statement"][0], "Resource": f"arn:aws:s3:::b{n}/*"}]}
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(doc), SetAsDefault=False)
    client_hooks.append(LostAnswer("DeletePolicyVersion"))
    client_hooks.append(LostAnswer("CreatePolicyVersion", "reset"))
    book = play(workdir, f"    - iam_policy: {{name: app-read, document: '{json.dumps(DOC_B)}'}}\n")
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 0, result.out + result.err
    assert versions(iam, arn) == {"v1": False, "v3": False, "v4": False, "v5": False, "v6": True}


@pytest.mark.parametrize(
    ("operation", "body", "read"),
    [
        ("CreateUser", "    - iam_user: {name: alice, path: /people/}\n", lambda iam: iam.get_user(UserName="alice")),
        ("CreateGroup", "    - iam_group: {name: ops, path: /teams/}\n", lambda iam: iam.get_group(GroupName="ops")),
        (
            "CreatePolicy",
            f"    - iam_policy: {{name: app-read, description: app, document: '{json.dumps(DOC_A)}'}}\n",
            lambda iam: iam.get_policy(PolicyArn=policy_arn("app-read")),
        ),
    ],
)
def test_other_creates_whose_answer_is_lost_are_applied_once(
    iam, aws, workdir, calls, client_hooks, operation, body, read
):
    lost = LostAnswer(operation, "reset")
    client_hooks.append(lost)
    book, inv = play(workdir, body), write_inventory(workdir, aws)
    result = cli("run", book, "-i", inv)
    assert result.code == 0, result.out + result.err
    assert lost.seen == 2  # the lost one, and its repeat answered EntityAlreadyExists: taken as done
    read(iam)
    assert_converged(book, inv, calls)


def test_delete_whose_answer_is_lost_is_done(iam, aws, workdir, client_hooks):
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=json.dumps(TRUST))
    lost = LostAnswer("DeleteRole")
    client_hooks.append(lost)
    result = cli(
        "run", play(workdir, "    - iam_role: {name: app, state: absent}\n"), "-i", write_inventory(workdir, aws)
    )
    assert result.code == 0, result.out + result.err
    assert iam.list_roles()["Roles"] == []


def test_a_create_that_finds_the_entity_without_a_lost_answer_still_fails(iam, aws, workdir, client_hooks):
    """EntityAlreadyExists is success only after a lost answer of our own create: the first answer, or one
    after a throttle (which AWS sends without applying anything), is someone else's entity."""

    def someone_creates(request: Any, **_: Any) -> Any:
        iam.create_role(
            RoleName="app", Path="/svc/", AssumeRolePolicyDocument=json.dumps(TRUST), MaxSessionDuration=7200
        )
        return query_error("Throttling", "Rate exceeded")

    sent: list[int] = []

    def hook(client: Any) -> None:
        def once(**kwargs: Any) -> Any:
            sent.append(1)
            return someone_creates(**kwargs) if len(sent) == 1 else None

        client.meta.events.register("before-send.iam.CreateRole", once)

    client_hooks.append(hook)
    result = cli("run", play(workdir, ROLE), "-i", write_inventory(workdir, aws))
    assert result.code == 1, result.out + result.err
    assert "EntityAlreadyExists" in result.out + result.err


def trail_exists_conflict(aws: str) -> Callable[[Any], None]:
    """CreateTrail answers TrailAlreadyExistsException for a name in use, as AWS does (the emulator overwrites)."""
    cloudtrail = boto3.client("cloudtrail", endpoint_url=aws, region_name="us-east-1")

    def send(request: Any, **_: Any) -> Any:
        name = json.loads(request.body)["Name"]
        if any(t["Name"] == name for t in cloudtrail.describe_trails()["trailList"]):
            return json_error("TrailAlreadyExistsException", f"Trail {name} already exists for customer: 123")
        return None

    return lambda client: client.meta.events.register("before-send.cloudtrail.CreateTrail", send)


def test_create_trail_whose_answer_is_lost_is_applied_once(aws, workdir, calls, client_hooks):
    lost = LostAnswer("CreateTrail", "reset", service="cloudtrail")
    client_hooks += [trail_exists_conflict(aws), lost]
    book = play(workdir, "    - cloudtrail: {name: main, bucket: trail-logs-123456789012, s3_key_prefix: t}\n")
    inv = write_inventory(workdir, aws)
    result = cli("run", book, "-i", inv)
    assert result.code == 0, result.out + result.err
    assert lost.seen == 2
    trails = boto3.client("cloudtrail", endpoint_url=aws, region_name="us-east-1").describe_trails()["trailList"]
    assert [(t["Name"], t["S3BucketName"], t["S3KeyPrefix"]) for t in trails] == [
        ("main", "trail-logs-123456789012", "t")
    ]
    assert_converged(book, inv, calls)


def test_a_write_that_can_neither_be_repeated_nor_read_back_is_not_repeated(iam, aws, client_hooks):
    """CreateAccessKey whose answer is lost: a repeat would make a second key, and nothing tells which key
    would be ours; it fails at once, saying the request may have been applied."""
    iam.create_user(UserName="alice")
    lost = LostAnswer("CreateAccessKey")
    client_hooks.append(lost)
    client = AccountSession(Account("t", endpoint_url=aws), read_only=False).client("iam")
    with pytest.raises(OutcomeUnknown) as caught:
        client.call("create_access_key", UserName="alice")
    assert "may have been applied" in str(caught.value)
    assert lost.seen == 1
    assert len(iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]) == 1


def test_an_idempotent_write_whose_answers_are_all_lost_fails_as_outcome_unknown(iam, aws, client_hooks):
    lost = LostAnswer("UpdateAccountPasswordPolicy", times=100)
    client_hooks.append(lost)
    client = AccountSession(Account("t", endpoint_url=aws), read_only=False).client("iam")
    with pytest.raises(OutcomeUnknown):
        client.call("update_account_password_policy", MinimumPasswordLength=14)
    assert lost.seen == retry.DEFAULT_POLICY.attempts  # repeated: the same write again changes nothing
    assert iam.get_account_password_policy()["PasswordPolicy"]["MinimumPasswordLength"] == 14


class RandomFaults:
    """Each IAM request throttled with probability `throttle`, or applied and then answered 503 with probability
    `lost` (seeded). Writes are sent on by the handler itself: `applied` counts what the emulator applied."""

    def __init__(self, throttle: float, lost: float, seed: int) -> None:
        self.throttle, self.lost = throttle, lost
        self.rng = random.Random(seed)
        self.applied: Counter[str] = Counter()
        self.active = True
        self._http = URLLib3Session()

    def __call__(self, client: Any) -> None:
        if client.meta.service_model.service_name == "iam":
            client.meta.events.register("before-send.iam.*", self._send)

    def _send(self, request: Any, event_name: str, **_: Any) -> Any:
        operation = event_name.rsplit(".", 1)[-1]
        draw = self.rng.random() if self.active else 1.0
        if draw < self.throttle:
            return query_error("Throttling", "Rate exceeded")
        if not is_mutating(operation) and draw >= self.throttle + self.lost:
            return None
        answer = self._http.send(request)
        if is_mutating(operation) and answer.status_code < 300:
            self.applied[f"{operation} {request.body}"] += 1
        if draw < self.throttle + self.lost:
            return query_error("ServiceUnavailable", "Service Unavailable", 503)
        return answer


MANY = "".join(
    [
        "    - iam_password_policy: {minimum_length: 14}\n",
        *(f"    - iam_role: {{name: app-{n}, trust_policy: '{json.dumps(TRUST)}'}}\n" for n in range(4)),
        *(f"    - iam_policy: {{name: p-{n}, document: '{json.dumps(DOC_B)}'}}\n" for n in range(3)),
        "    - iam_access_keys: {unused_days: 90, action: deactivate}\n",
    ]
)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_run_under_throttles_and_lost_answers_converges_without_a_duplicate(
    iam, aws, workdir, calls, client_hooks, monkeypatch, seed
):
    """A third of the requests throttled and one in twenty applied with the answer lost: the run converges,
    the account is as a fault-free run leaves it, and no create was applied twice."""
    monkeypatch.setattr(retry, "DEFAULT_POLICY", retry.RetryPolicy(attempts=15, base_delay=0.001, max_delay=0.01))
    monkeypatch.setattr(ratelimit, "account_bucket", lambda name="": ratelimit.TokenBucket(1000, name=name))
    for n in range(3):
        iam.create_policy(PolicyName=f"p-{n}", PolicyDocument=json.dumps(DOC_A))
    keys = []
    for user in ("alice", "bob", "carol"):
        iam.create_user(UserName=user)
        keys.append(iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"])
        age_key(keys[-1], 400, 200)
    faults = RandomFaults(0.30, 0.05, seed)
    client_hooks.append(faults)
    book, inv = play(workdir, MANY), write_inventory(workdir, aws)

    result = cli("run", book, "-i", inv)
    assert result.code == 0, result.out + result.err
    faults.active = False
    twice = [w for w, count in faults.applied.items() if count > 1 and w.startswith("Create")]
    assert twice == []
    assert all(versions(iam, policy_arn(f"p-{n}")) == {"v1": False, "v2": True} for n in range(3))
    assert sorted(r["RoleName"] for r in iam.list_roles()["Roles"]) == [f"app-{n}" for n in range(4)]
    assert_converged(book, inv, calls)
