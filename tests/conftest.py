"""One emulator for the whole test session (moto's ThreadedMotoServer over real HTTP), reset per test."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from remediator import applier, credreport
from remediator.aws import retry, session
from remediator.sandbox.server import Emulator

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    server = Emulator()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the retry policy's shape but shrink its pauses, so fault tests stay quick."""
    monkeypatch.setattr(
        retry, "DEFAULT_POLICY", retry.RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, total_seconds=5)
    )
    monkeypatch.setattr(
        retry, "PROPAGATION_POLICY", retry.RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, total_seconds=5)
    )
    monkeypatch.setattr(applier, "VERIFY_PAUSES", ())
    monkeypatch.setattr(credreport, "POLL_PAUSES", (0.0, 0.0, 0.0))


@pytest.fixture
def aws(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean emulator; returns its URL. AWS managed policies are not loaded (see `aws_managed`)."""
    # Loading ~1,500 AWS managed policies costs ~0.6 s per reset; only tests that attach one pay for it.
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")
    emulator.reset()
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return emulator.url


@pytest.fixture
def aws_managed(aws: str, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean emulator with AWS managed policies (AdministratorAccess…), as in a real account."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    emulator.reset()
    return aws


@pytest.fixture
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Fix "now" at tests.emulator.PINNED for the product (`remediator.timeutil.now`) and for the tests'
    `tests.emulator.days_ago()`, so dates computed from "now" on both sides agree even across midnight UTC."""
    from tests.emulator import pin_clock

    return pin_clock(monkeypatch)


@pytest.fixture
def iam(aws: str) -> Any:
    return boto3.client("iam", endpoint_url=aws, region_name="us-east-1")


@dataclass
class Calls:
    """Every API call made by remediator's clients during a test."""

    records: list[tuple[str, str, str, bool]] = field(default_factory=list)

    def __call__(self, account: str, service: str, operation: str, params: dict[str, Any], read_only: bool) -> None:
        self.records.append((account, service, operation, read_only))

    @property
    def mutating(self) -> list[str]:
        return [op for _, _, op, _ in self.records if session.is_mutating(op)]

    def count(self, operation: str) -> int:
        return sum(1 for _, _, op, _ in self.records if op == operation)

    def clear(self) -> None:
        self.records.clear()


@pytest.fixture
def calls() -> Iterator[Calls]:
    recorder = Calls()
    session.CALL_OBSERVERS.append(recorder)
    yield recorder
    session.CALL_OBSERVERS.remove(recorder)


@pytest.fixture
def client_hooks() -> Iterator[list[Any]]:
    """Register functions run on each new botocore client (to add before-send handlers)."""
    hooks: list[Any] = []
    session.CLIENT_HOOKS.extend([lambda client: [h(client) for h in hooks]])
    yield hooks
    session.CLIENT_HOOKS.clear()


@dataclass
class Result:
    code: int
    out: str
    err: str


def cli(*args: str) -> Result:
    """Run the CLI in-process, as a user would type it, capturing its output."""
    from remediator.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in args])
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_inventory(directory: Path, url: str, name: str = "inventory.yml", **accounts: Any) -> Path:
    """An inventory with one account `test` (or the given ones) on the emulator."""
    import yaml

    accounts = accounts or {"test": {}}
    body = {"all": {"accounts": {k: {"endpoint_url": url, **v} for k, v in accounts.items()}}}
    path = directory / name
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


python = sys.executable


def assert_converged(book: Any, inv: Any, calls: Any) -> None:
    """Steps three and four of the four-step check: applying again writes nothing, and a check exits 0."""
    calls.clear()
    third = cli("run", book, "-i", inv)
    assert third.code == 0, third.out + third.err
    assert calls.mutating == []
    assert "ok:" in third.out
    fourth = cli("run", book, "-i", inv, "--check")
    assert fourth.code == 0, fourth.out
    assert "would change" not in fourth.out
