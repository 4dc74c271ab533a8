"""An apply killed mid-way (SIGKILL): the journal matches the account, the rerun completes it with no
duplicate write, and rollback of the truncated journal restores the account as it was.

The apply is a real subprocess, `python -m remediator run ... --journal J`, against the emulator over HTTP.
It is killed by itself at a chosen point, so the point is exact: a `sitecustomize` module (on the child's
PYTHONPATH only) adds a client hook that counts the child's writes and sends it SIGKILL right after the Nth
write was answered ("after:N") or right before the Nth write is sent ("before:N"). The hook also logs each
write the emulator answered, which is what "no duplicate write" is checked against.

The playbook's writes, in order: CreatePolicyVersion (1), CreateRole (2), then for each of two keys the
deactivation's two writes (3, 4 and 5, 6): killed after the first (1), before the second is sent (2),
and between the two writes of a key's deactivation (3).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from remediator.aws import session
from tests.conftest import REPO, assert_converged, cli, write, write_inventory
from tests.emulator import TRUST, age_key, today

DOC_A = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
DOC_B = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}
TAG = "remediator:deactivated:"
BOOK = f"""\
- accounts: all
  tasks:
    - iam_policy: {{name: app-read, document: '{json.dumps(DOC_B)}'}}
    - iam_role: {{name: app, trust_policy: '{json.dumps(TRUST)}'}}
    - iam_access_keys: {{unused_days: 90, action: deactivate}}
"""

SITECUSTOMIZE = '''\
"""Test-only: SIGKILL this process at the write named by REMEDIATOR_TEST_KILL; log answered writes."""
import json, os, signal

_spec = os.environ.get("REMEDIATOR_TEST_KILL")
if _spec:
    from remediator import credreport
    from remediator.aws import session

    credreport.POLL_PAUSES = (0.0, 0.0, 0.0)  # as the tests' own runs (tests/conftest.py)

    _when, _n = _spec.split(":")
    _n = int(_n)
    _log = os.environ["REMEDIATOR_TEST_WRITES"]
    _state = {"writes": 0, "params": None}

    def _remember(params, model, **_):
        if session.is_mutating(model.name):
            _state["params"] = (model.name, dict(params))

    def _before(request, event_name, **_):
        if session.is_mutating(event_name.rsplit(".", 1)[-1]):
            _state["writes"] += 1
            if _when == "before" and _state["writes"] == _n:
                os.kill(os.getpid(), signal.SIGKILL)

    def _after(http_response, model, **_):
        if not session.is_mutating(model.name):
            return
        if http_response.status_code < 300:
            name, params = _state["params"]
            with open(_log, "a") as handle:
                handle.write(json.dumps([name, params], sort_keys=True, default=str) + "\\n")
                handle.flush()
                os.fsync(handle.fileno())
        if _when == "after" and _state["writes"] == _n:
            os.kill(os.getpid(), signal.SIGKILL)

    def _hook(client):
        client.meta.events.register("before-parameter-build.*.*", _remember)
        client.meta.events.register("before-send.*.*", _before)
        client.meta.events.register("after-call.*.*", _after)

    session.CLIENT_HOOKS.append(_hook)
'''

KILL_POINTS = ["after:1", "before:2", "after:3"]


class Account:
    """The account the playbook acts on, read back with the test's own client."""

    def __init__(self, iam: Any, keys: dict[str, str]) -> None:
        self.iam = iam
        self.keys = keys  # user → key id

    def policy(self) -> str:
        arn = "arn:aws:iam::123456789012:policy/app-read"
        default = self.iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        document = self.iam.get_policy_version(PolicyArn=arn, VersionId=default)["PolicyVersion"]["Document"]
        count = len(self.iam.list_policy_versions(PolicyArn=arn)["Versions"])
        return f"{'B' if document == DOC_B else 'A'}/{count} versions"

    def role(self) -> str:
        return "present" if any(r["RoleName"] == "app" for r in self.iam.list_roles()["Roles"]) else "absent"

    def key(self, user: str) -> str:
        key_id = self.keys[user]
        status = self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"][0]["Status"]
        tags = {t["Key"] for t in self.iam.list_user_tags(UserName=user)["Tags"]}
        return f"{status}, {'tagged' if TAG + key_id in tags else 'untagged'}"

    def state(self) -> dict[str, str]:
        return {
            "app-read": self.policy(),
            "app": self.role(),
            **{f"{user}/{key_id}": self.key(user) for user, key_id in self.keys.items()},
        }


def before_state(keys: dict[str, str]) -> dict[str, str]:
    return {"app-read": "A/1 versions", "app": "absent", **{f"{u}/{k}": "Active, untagged" for u, k in keys.items()}}


def after_state(keys: dict[str, str]) -> dict[str, str]:
    return {"app-read": "B/2 versions", "app": "present", **{f"{u}/{k}": "Inactive, tagged" for u, k in keys.items()}}


# A key deactivation is cut between its two writes: its tag is written first, so what a cut leaves is an active
# key carrying the tag, which the rerun deactivates. An inactive key without the tag would be lost to
# delete_after_days for good.
BETWEEN = "Active, tagged"


def seed(iam: Any, workdir: Path, aws: str) -> tuple[Path, Path, dict[str, str]]:
    iam.create_policy(PolicyName="app-read", PolicyDocument=json.dumps(DOC_A))
    keys = {}
    for user in ("alice", "bob"):
        iam.create_user(UserName=user)
        keys[user] = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
        age_key(keys[user], 400, 200)
    return write(workdir, "play.yml", BOOK), write_inventory(workdir, aws), keys


def kill_apply(workdir: Path, book: Path, inv: Path, point: str) -> tuple[Path, list[tuple[str, dict[str, Any]]]]:
    """Run the apply in a subprocess killed at `point`; the journal, and the writes the emulator answered."""
    site = workdir / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    journal, writes = workdir / "run.journal", workdir / "writes.jsonl"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
        "REMEDIATOR_TEST_KILL": point,
        "REMEDIATOR_TEST_WRITES": str(writes),
    }
    argv = [sys.executable, "-m", "remediator", "run", str(book), "-i", str(inv), "--journal", str(journal)]
    child = subprocess.run(argv, env=env, cwd=workdir, capture_output=True, text=True, timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    answered = [tuple(json.loads(line)) for line in writes.read_text().splitlines()] if writes.exists() else []
    return journal, answered  # type: ignore[return-value]


def journal_entries(journal: Path) -> dict[str, str]:
    """resource → status (applied, failed, or unknown: begun and never ended) of the journal's changes."""
    begun: dict[int, str] = {}
    status: dict[str, str] = {}
    for line in journal.read_text().splitlines():
        record = json.loads(line)
        if record["type"] == "begin":
            begun[record["seq"]] = record["change"]["resource"]
            status[record["change"]["resource"]] = "unknown"
        elif record["type"] == "end":
            status[begun[record["seq"]]] = record["status"]
    return status


def assert_journal_matches(account: Account, journal: Path) -> None:
    """Applied → the after-state; unknown → the before- or after-state, or a key cut between its writes as
    above; never begun → the before-state."""
    entries = journal_entries(journal)
    keys = account.keys
    before, after, live = before_state(keys), after_state(keys), account.state()
    assert list(entries.values()).count("unknown") <= 1  # one change at a time
    for resource, now in live.items():
        status = entries.get(resource)
        if status == "applied":
            assert now == after[resource], (resource, status, now)
        elif status == "unknown":
            assert now in (before[resource], after[resource], BETWEEN), (resource, status, now)
        else:
            assert status is None and now == before[resource], (resource, status, now)


@pytest.fixture
def writes_seen() -> Any:
    """Every write (operation, params) remediator's clients send in this process."""
    seen: list[tuple[str, dict[str, Any]]] = []

    def observe(account: str, service: str, operation: str, params: dict[str, Any], read_only: bool) -> None:
        if session.is_mutating(operation):
            seen.append((operation, params))

    session.CALL_OBSERVERS.append(observe)
    yield seen
    session.CALL_OBSERVERS.remove(observe)


@pytest.mark.parametrize("point", KILL_POINTS)
def test_killed_apply_is_completed_by_its_rerun_without_a_duplicate_write(iam, aws, workdir, calls, writes_seen, point):
    book, inv, keys = seed(iam, workdir, aws)
    journal, answered = kill_apply(workdir, book, inv, point)
    account = Account(iam, keys)
    assert_journal_matches(account, journal)

    rerun = cli("run", book, "-i", inv, "--journal", "rerun.journal")
    assert rerun.code == 0, rerun.out + rerun.err
    assert "converged" in rerun.out
    assert account.state() == after_state(keys)
    repeated = [w for w in writes_seen if w in answered]
    assert repeated == [], f"written again after the kill: {repeated}"
    assert_converged(book, inv, calls)


# "before:N" kills after CreateRole was journalled and before it was sent: the entry is begun and never
# ended, its resource still in its before-state, so rollback has nothing to undo for it (and says so).
@pytest.mark.parametrize("point", KILL_POINTS)
def test_rollback_of_the_truncated_journal_restores_the_account(iam, aws, workdir, point):
    book, inv, keys = seed(iam, workdir, aws)
    journal, _ = kill_apply(workdir, book, inv, point)
    account = Account(iam, keys)
    assert_journal_matches(account, journal)

    undone = cli("rollback", journal)
    assert undone.code == 0, undone.out + undone.err
    restored = account.state()
    # A policy version cannot be un-created: rollback makes the old one the default again.
    assert restored | {"app-read": restored["app-read"][:1]} == before_state(keys) | {"app-read": "A"}


KEYS_ONLY = """\
- tasks:
    - iam_access_keys: {unused_days: 90, delete_after_days: 30, action: deactivate}
"""


def test_a_deactivation_cut_after_its_tag_is_completed_without_writing_the_tag_again(
    iam, aws, workdir, writes_seen, pinned_clock
):
    """What a cut leaves (the tag written, the key still active) is completed by the next run, and undone by its
    rollback back to that state."""
    iam.create_user(UserName="alice")
    key_id = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    age_key(key_id, 400, 200)
    iam.tag_user(UserName="alice", Tags=[{"Key": TAG + key_id, "Value": today()}])
    book, inv = write(workdir, "keys.yml", KEYS_ONLY), write_inventory(workdir, aws)
    account = Account(iam, {"alice": key_id})

    result = cli("run", book, "-i", inv, "--journal", "run.journal")
    assert result.code == 0, result.out + result.err
    assert [op for op, _ in writes_seen] == ["UpdateAccessKey"]
    assert account.key("alice") == "Inactive, tagged"
    assert cli("rollback", "run.journal").code == 0
    assert account.key("alice") == "Active, tagged"


def test_an_inactive_key_without_the_tag_is_never_dated(iam, aws, workdir, writes_seen, pinned_clock):
    """Switched off by someone else (no run of remediator leaves an inactive key without its tag): not ours to
    date, so delete_after_days never counts it, and the run writes nothing."""
    iam.create_user(UserName="alice")
    key_id = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    age_key(key_id, 400, 200)
    iam.update_access_key(UserName="alice", AccessKeyId=key_id, Status="Inactive")
    result = cli("run", write(workdir, "keys.yml", KEYS_ONLY), "-i", write_inventory(workdir, aws))
    assert result.code == 0, result.out + result.err
    assert writes_seen == []
    assert Account(iam, {"alice": key_id}).key("alice") == "Inactive, untagged"
