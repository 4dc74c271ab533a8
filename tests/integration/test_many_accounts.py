"""Many accounts at once: --forks really runs accounts side by side, one AssumeRole per account,
credentials that refresh, rate limits per account and for the hub, --preflight, and the unreachable status.

Several accounts live on the one emulator: assuming `arn:aws:iam::ID:role/remediator` gives credentials
for account ID (moto's multi-account support), so each inventory account is its own IAM.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections import defaultdict
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import boto3
import pytest

from remediator.aws import ratelimit, session
from remediator.aws.session import AccountSession
from remediator.model import Account
from tests.conftest import cli, write
from tests.emulator import iam_in
from tests.faults import Inject, query_error

ACCOUNT_IDS = [f"{100000000001 + i:012d}" for i in range(8)]
BOOK = "- accounts: all\n  tasks:\n    - name: Strong passwords\n      iam_password_policy: {minimum_length: 14}\n"
DELAY = 0.1  # seconds added to every call: what makes parallelism visible against an in-process emulator


def inventory(directory: Path, url: str, ids: list[str], **extra: dict[str, Any]) -> Path:
    lines = ["all:", "  accounts:"]
    for n, account_id in enumerate(ids):
        settings = {
            "account_id": account_id,
            "role_arn": f"arn:aws:iam::{account_id}:role/remediator",
            "endpoint_url": url,
            **extra.get(f"a{n}", {}),
        }
        lines.append(f"    a{n}: {json.dumps(settings)}")
    return write(directory, "inventory.yml", "\n".join(lines) + "\n")


class Windows:
    """When each account's calls happened (a CALL_OBSERVERS entry): the first and last call's start."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()

    def __call__(self, account: str, service: str, operation: str, params: Any, read_only: bool) -> None:
        with self._lock:
            self.times[account].append(time.monotonic())

    def most_at_once(self) -> int:
        """The most accounts whose windows (first call to last call, plus the delay) share one instant."""
        spans = [(min(t), max(t) + DELAY) for t in self.times.values()]
        return max(sum(1 for start, end in spans if start <= moment <= end) for moment, _ in spans)


@pytest.fixture
def slow_calls(client_hooks: list[Any]) -> None:
    """Every API call takes DELAY longer, as a round trip to AWS would."""

    def hook(client: Any) -> None:
        client.meta.events.register("before-send", lambda **_: time.sleep(DELAY))

    client_hooks.append(hook)


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> Windows:
    recorder = Windows()
    monkeypatch.setattr(session, "CALL_OBSERVERS", [*session.CALL_OBSERVERS, recorder])
    return recorder


def test_forks_run_accounts_side_by_side(aws, workdir, slow_calls, windows, calls):
    """Eight accounts with --forks 8 overlap: at some instant most of them are in the middle of their work.
    Judged on the accounts' call windows, not on wall time (benchmarks/bench_accounts.py measures that)."""
    book = write(workdir, "play.yml", BOOK)
    eight = inventory(workdir, aws, ACCOUNT_IDS)
    result = cli("run", book, "-i", eight, "--check", "--forks", "8")
    assert result.code == 2, result.out + result.err
    assert result.out.count("would change") == 8
    assert windows.most_at_once() >= 5, dict(windows.times)


def test_forks_one_runs_accounts_one_after_another(aws, workdir, slow_calls, windows):
    result = cli("run", write(workdir, "play.yml", BOOK), "-i", inventory(workdir, aws, ACCOUNT_IDS[:3]), "--check",
                 "--forks", "1")  # fmt: skip
    assert result.code == 2
    assert windows.most_at_once() == 1


def test_one_assume_role_per_account_and_one_hub_budget(aws, workdir, calls, monkeypatch):
    """Planning and applying share each account's session: one AssumeRole each, all through the hub's
    one STS budget; every other call takes from its own account's bucket."""
    taken: list[str] = []

    class Counting(ratelimit.TokenBucket):
        def acquire(self) -> float:
            taken.append(self.name)
            return super().acquire()

    monkeypatch.setattr(ratelimit, "hub_bucket", lambda: Counting(1000, name="hub sts"))
    monkeypatch.setattr(ratelimit, "account_bucket", lambda name="": Counting(1000, name=name))
    result = cli("run", write(workdir, "play.yml", BOOK), "-i", inventory(workdir, aws, ACCOUNT_IDS[:4]))
    assert result.code == 0, result.out + result.err
    assume = [account for account, _, op, _ in calls.records if op == "AssumeRole"]
    assert sorted(assume) == ["a0", "a1", "a2", "a3"]
    assert taken.count("hub sts") == 4  # AssumeRole, and nothing else, from the hub's budget
    for name in ("a0", "a1", "a2", "a3"):
        own = [op for account, _, op, _ in calls.records if account == name and op != "AssumeRole"]
        assert taken.count(name) == len(own) >= 3  # the read, the write, the verification…
    for account_id in ACCOUNT_IDS[:4]:  # each account got its own change
        policy = iam_in(aws, account_id).get_account_password_policy()["PasswordPolicy"]
        assert policy["MinimumPasswordLength"] == 14


def test_a_throttle_halves_the_accounts_rate(aws, client_hooks):
    throttled = Inject("iam", "GetAccountPasswordPolicy", lambda: query_error("Throttling", "Rate exceeded"), times=2)
    client_hooks.append(throttled)
    reader = AccountSession(Account("t", endpoint_url=aws), read_only=True)
    start = reader.limiter.rate
    with pytest.raises(Exception, match="NoSuchEntity"):  # the emulator's real answer, after two throttles
        reader.client("iam").call("get_account_password_policy")
    assert reader.limiter.throttles == 2
    assert reader.limiter.rate < start  # halved, then crept back a little on the success


def test_expired_credentials_on_a_read_are_refreshed_and_the_read_retried(aws, workdir, calls, client_hooks):
    expired = Inject("iam", "GetAccountPasswordPolicy", lambda: query_error("ExpiredToken", "The token expired"), 1)
    client_hooks.append(expired)
    result = cli("run", write(workdir, "play.yml", BOOK), "-i", inventory(workdir, aws, ACCOUNT_IDS[:1]), "--check")
    assert result.code == 2, result.out + result.err
    assert calls.count("AssumeRole") == 2  # the first, and the refresh
    assert expired.seen == 2


def test_expired_credentials_on_a_write_plan_that_change_again(aws, workdir, calls, client_hooks):
    expired = Inject("iam", "UpdateAccountPasswordPolicy", lambda: query_error("ExpiredToken", "The token expired"), 1)
    client_hooks.append(expired)
    result = cli("run", write(workdir, "play.yml", BOOK), "-i", inventory(workdir, aws, ACCOUNT_IDS[:1]),
                 "--format", "json")  # fmt: skip
    assert result.code == 0, result.out + result.err
    (account,) = json.loads(result.out)["accounts"]
    assert account["converged"] is True and account["tasks"][0]["status"] == "changed"
    assert calls.count("AssumeRole") == 2
    assert calls.count("GetAccountPasswordPolicy") >= 3  # planned, re-read before the write, planned again…
    assert expired.seen == 2  # refused once, then sent again from the fresh plan
    policy = iam_in(aws, ACCOUNT_IDS[0]).get_account_password_policy()["PasswordPolicy"]
    assert policy["MinimumPasswordLength"] == 14


def test_role_credentials_refresh_before_they_expire(aws, calls):
    """A long run: credentials ten minutes from expiry are replaced (AssumeRole again) before the next
    call is signed, so no call is sent with credentials about to lapse."""
    from datetime import UTC, datetime, timedelta

    account_id = ACCOUNT_IDS[0]
    account = Account("a0", account_id=account_id, endpoint_url=aws, role_arn=f"arn:aws:iam::{account_id}:role/r")
    reader = AccountSession(account, read_only=True)
    reader.verify_account()
    credentials = reader.assumed_credentials()
    first_key = reader.access_key_id()
    assert credentials is not None and calls.count("AssumeRole") == 1
    credentials._expiry_time = datetime.now(UTC) + timedelta(minutes=5)  # as an hour-long run would find them
    reader.client("iam").call("list_roles")
    assert calls.count("AssumeRole") == 2 and reader.access_key_id() != first_key
    assert credentials._expiry_time > datetime.now(UTC) + timedelta(minutes=30)


class DenyAssumeRole:
    """AssumeRole into one role answers AccessDenied, as STS does when the role's trust policy says no."""

    MESSAGE = "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: sts:AssumeRole on resource: {}"

    def __init__(self, role_arn: str) -> None:
        self.role_arn = role_arn

    def __call__(self, client: Any) -> None:
        client.meta.events.register("before-send.sts.AssumeRole", self._send)

    def _send(self, request: Any, **_: Any) -> Any:
        from urllib.parse import parse_qs

        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        if parse_qs(body).get("RoleArn") == [self.role_arn]:
            return query_error("AccessDenied", self.MESSAGE.format(self.role_arn), 403)
        return None


def test_preflight_lists_the_unreachable_with_the_sts_error_and_changes_nothing(aws, workdir, calls, client_hooks):
    denied = f"arn:aws:iam::{ACCOUNT_IDS[1]}:role/remediator"
    client_hooks.append(DenyAssumeRole(denied))
    inv = inventory(workdir, aws, ACCOUNT_IDS[:3])
    book = write(workdir, "play.yml", BOOK)

    result = cli("run", book, "-i", inv, "--preflight")
    assert result.code == 1
    assert "PREFLIGHT: 3 account(s): 2 reachable, 1 unreachable" in result.out
    line = next(line for line in result.out.splitlines() if "UNREACHABLE" in line)
    assert "a1 (100000000002)" in line and "AccessDenied" in line and DenyAssumeRole.MESSAGE.format(denied) in line
    assert f"ok           a0 ({ACCOUNT_IDS[0]}) as arn:aws:sts::{ACCOUNT_IDS[0]}:assumed-role/remediator/" in result.out
    assert "error: account 'a1': cannot reach the account: cannot assume" in result.err
    assert {op for _, _, op, _ in calls.records} == {"AssumeRole", "GetCallerIdentity"}  # reached, nothing read

    data = json.loads(cli("run", book, "-i", inv, "--preflight", "--format", "json").out)
    assert data["unreachable"] == 1 and data["exit_code"] == 1
    assert [(a["name"], a["reachable"]) for a in data["accounts"]] == [("a0", True), ("a1", False), ("a2", True)]
    assert "AccessDenied" in data["accounts"][1]["error"]

    everyone = cli("run", book, "-i", inv, "--preflight", "--limit", "a0:a2")
    assert everyone.code == 0 and "2 reachable, 0 unreachable" in everyone.out and everyone.err == ""
    assert set(calls.mutating) == {"AssumeRole"}  # STS's, not the account's: nothing in any account changed


def test_preflight_refuses_what_it_would_not_do(aws, workdir):
    book = write(workdir, "play.yml", BOOK)
    inv = inventory(workdir, aws, ACCOUNT_IDS[:1])
    assert "--preflight changes nothing" in cli("run", book, "-i", inv, "--preflight", "--plan-out", "p.json").err
    assert "--preflight prints text or json" in cli("run", book, "-i", inv, "--preflight", "--format", "sarif").err


def test_an_unreachable_account_is_its_own_status_never_a_pass(aws, workdir, client_hooks):
    client_hooks.append(DenyAssumeRole(f"arn:aws:iam::{ACCOUNT_IDS[1]}:role/remediator"))
    book = write(workdir, "play.yml", BOOK)
    inv = inventory(workdir, aws, ACCOUNT_IDS[:2])

    text = cli("run", book, "-i", inv, "--check")
    assert text.code == 1
    recap = dict(line.split(None, 1) for line in text.out.split("RECAP", 1)[1].splitlines()[1:] if line.strip())
    assert "unreachable" not in recap["a0"] and "would_change=1" in recap["a0"]
    assert "unreachable=1" in recap["a1"] and "failed=1" in recap["a1"] and "FAILED" in recap["a1"]

    data = json.loads(cli("run", book, "-i", inv, "--check", "--format", "json").out)
    reached, unreachable = data["accounts"]
    assert "unreachable" not in reached and "unreachable" not in reached["counts"]
    assert unreachable["unreachable"] is True and unreachable["counts"]["unreachable"] == 1
    assert unreachable["status"] == "failed" and [t["status"] for t in unreachable["tasks"]] == ["failed"]


def test_text_results_stream_per_account_whole_and_in_one_piece(aws, workdir):
    book = write(
        workdir,
        "play.yml",
        BOOK + "    - name: Sessions\n      iam_roles: {max_session_duration: 3600}\n",
    )
    result = cli("run", book, "-i", inventory(workdir, aws, ACCOUNT_IDS[:6]), "--check", "--forks", "6")
    assert result.code == 2
    body, recap = result.out.split("\nRECAP", 1)
    blocks = [b for b in body.split("\nACCOUNT [") if b.strip()]
    assert len(blocks) == 6 and result.out.count("RECAP") == 1
    for block in blocks:  # each account's lines together: its header, both its tasks, nothing of another's
        name = block.split(" ", 1)[0]
        assert block.count("TASK [") == 2
        assert all(f"{name}/global/" in line for line in block.splitlines() if "would change:" in line)
    assert [line.split()[0] for line in recap.splitlines()[1:7]] == [f"a{n}" for n in range(6)]  # inventory order


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_only(aws, workdir):
    from remediator.cli import main

    book = write(workdir, "play.yml", BOOK)
    inv = inventory(workdir, aws, ACCOUNT_IDS[:3])
    out, err = io.StringIO(), Terminal()
    with redirect_stdout(out), redirect_stderr(err):
        assert main(["run", str(book), "-i", str(inv), "--check", "--forks", "3"]) == 2
    assert "planning 3/3 accounts" in err.getvalue() and "\r\x1b[K" in err.getvalue()
    assert err.getvalue().endswith("\r\x1b[K")  # the status line is gone when the run ends
    assert "\x1b" not in out.getvalue()

    piped = cli("run", book, "-i", inv, "--check", "--forks", "3")
    assert piped.code == 2 and piped.err == ""  # in CI and pipes stderr carries errors alone


class SignedWith:
    """Per account: the access key id in the Authorization header of each request its clients sent."""

    def __init__(self) -> None:
        self.keys: dict[str, list[str]] = defaultdict(list)
        self._lock = threading.Lock()

    def watch(self, name: str, client: Any) -> None:
        def before_send(request: Any, **_: Any) -> None:
            authorization = request.headers["Authorization"]
            authorization = authorization.decode() if isinstance(authorization, bytes) else authorization
            key = authorization.split("Credential=", 1)[1].split("/", 1)[0]
            with self._lock:
                self.keys[name].append(key)

        client.meta.events.register("before-send", before_send)


def test_each_accounts_calls_are_signed_with_its_own_credentials(aws):
    """Accounts' clients share botocore's service model and client class (made once per process), never
    their credentials, signer or handlers: made and called from eight threads at once, each account's
    requests carry its own assumed-role key, and the emulator answers as that account."""
    from concurrent.futures import ThreadPoolExecutor

    signed = SignedWith()
    readers: dict[str, AccountSession] = {}

    def one(n: int) -> dict[str, Any]:
        account_id = ACCOUNT_IDS[n]
        account = Account(f"a{n}", account_id=account_id, endpoint_url=aws,
                          role_arn=f"arn:aws:iam::{account_id}:role/remediator")  # fmt: skip
        reader = AccountSession(account, read_only=True)
        readers[account.name] = reader
        iam, sts = reader.client("iam"), reader.client("sts")
        signed.watch(account.name, iam.raw)
        signed.watch(account.name, sts.raw)
        iam.call("list_roles")
        return sts.call("get_caller_identity")

    with ThreadPoolExecutor(max_workers=8) as pool:
        identities = list(pool.map(one, range(8)))

    assert [identity["Account"] for identity in identities] == ACCOUNT_IDS  # each reached its own account
    keys = {name: reader.access_key_id() for name, reader in readers.items()}
    assert len(set(keys.values())) == 8 and None not in keys.values()
    for name, seen in signed.keys.items():
        assert seen and set(seen) == {keys[name]}, (name, seen, keys[name])
    assert len(signed.keys) == 8

    first, second = (readers[name].client("iam").raw for name in ("a0", "a1"))
    assert type(first) is type(second) and first.meta.service_model is second.meta.service_model  # shared
    assert first.meta.events is not second.meta.events  # each its own handlers (firewall, observers, limits)
    assert first._request_signer is not second._request_signer and first._endpoint is not second._endpoint


def test_the_shared_model_and_handlers_stay_read_only_and_ours(aws):
    """The handlers every session starts from cannot be registered on (a per-account handler could not
    leak to another account through them), and clients made outside the shared loader (a test's boto3
    client) are botocore's own, not the cache's."""
    account = Account("a0", endpoint_url=aws)
    reader = AccountSession(account, read_only=True)
    iam = reader.client("iam").raw
    botocore_session = reader._session()
    with pytest.raises(RuntimeError, match="read-only"):
        botocore_session.register("before-send", lambda **_: None)
    outside = boto3.client("iam", endpoint_url=aws, region_name="us-east-1")
    assert type(outside) is not type(iam) and outside.meta.service_model is not iam.meta.service_model
    writer = AccountSession(account, read_only=False)
    writable = writer.client("iam").raw
    assert type(writable) is type(iam) and writable.meta.events is not iam.meta.events
    with pytest.raises(Exception, match="read-only"):  # the reader's firewall is the reader's alone
        reader.client("iam").call("update_account_password_policy", MinimumPasswordLength=14)
    writer.client("iam").call("update_account_password_policy", MinimumPasswordLength=14)
    assert reader.client("iam").call("get_account_password_policy")["PasswordPolicy"]["MinimumPasswordLength"] == 14
