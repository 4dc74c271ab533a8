"""An account that cannot be reached fails at once, on stderr, and no format reports its tasks as passing."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET

import pytest

from remediator.sandbox.server import free_port
from tests.conftest import cli, write

BOOK = """\
- accounts: all
  tasks:
    - name: Strong passwords
      iam_password_policy: {minimum_length: 14}
    - name: Cap sessions
      iam_roles: {max_session_duration: 3600}
    - name: Admins
      iam_admins: {}
"""


@pytest.fixture
def dead_endpoint(workdir):
    """An inventory whose account's endpoint refuses connections (nothing listens on the port)."""
    url = f"http://127.0.0.1:{free_port()}"
    return write(workdir, "inventory.yml", f"all:\n  accounts:\n    gone: {{endpoint_url: '{url}'}}\n")


@pytest.fixture
def no_credentials(monkeypatch, tmp_path, workdir):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    url = "https://sts.remediator-test.invalid"
    return write(workdir, "inventory.yml", f"all:\n  accounts:\n    gone: {{endpoint_url: '{url}'}}\n")


@pytest.mark.parametrize("inventory", ["dead_endpoint", "no_credentials"])
def test_unreachable_account_fails_every_task_in_every_format(inventory, request, workdir, calls):
    inv = request.getfixturevalue(inventory)
    book = write(workdir, "play.yml", BOOK)

    text = cli("run", book, "-i", inv, "--check")
    assert text.code == 1
    assert "cannot reach the account" in text.err
    recap = text.out.split("RECAP", 1)[1]
    assert "ok=0" in recap and "failed=3" in recap and "FAILED" in recap
    assert [op for _, _, op, _ in calls.records if op != "GetCallerIdentity"] == []  # one call, no task read
    assert calls.count("GetCallerIdentity") <= 2  # few retries, not each task's own backoff

    report = json.loads(cli("run", book, "-i", inv, "--check", "--format", "json").out)
    account = report["accounts"][0]
    assert account["status"] == "failed" and "cannot reach" in account["error"]
    assert [t["status"] for t in account["tasks"]] == ["failed"] * 3
    assert report["exit_code"] == 1

    junit = ET.fromstring(cli("run", book, "-i", inv, "--check", "--format", "junit").out)
    cases = junit.findall(".//testcase")
    passing = [c.get("name") for c in cases if not list(c)]
    assert passing == [] and len(cases) >= 3

    sarif = json.loads(cli("run", book, "-i", inv, "--check", "--format", "sarif").out)
    assert sarif["runs"][0]["invocations"][0]["executionSuccessful"] is False

    markdown = cli("run", book, "-i", inv, "--check", "--format", "markdown").out
    assert "cannot reach the account" in markdown


def test_a_failed_task_reaches_stderr(aws, workdir, calls):
    """A task that fails (here: a managed policy name that does not exist) says so on stderr, with where."""
    inv = write(workdir, "inventory.yml", f"all:\n  accounts:\n    test: {{endpoint_url: '{aws}'}}\n")
    book = write(
        workdir,
        "play.yml",
        "- tasks:\n    - name: Role\n      iam_role: {name: app, managed_policies: [nope]}\n",
    )
    result = cli("run", book, "-i", inv, "--check")
    assert result.code == 1
    line = next(line for line in result.err.splitlines() if "task 'Role'" in line)
    assert "play.yml:2" in line and "nope" in line


def test_an_endpoint_that_never_answers_fails_the_account_within_the_reach_timeout(workdir, monkeypatch, calls):
    """It takes the connection and says nothing: the reach gives up after its own short timeout, not the
    minute an ordinary read may take."""
    import socket
    import threading

    from remediator.aws import session as session_module

    monkeypatch.setattr(session_module, "REACH_TIMEOUT", 0.5)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        inv = write(workdir, "inventory.yml", f"all:\n  accounts:\n    mute: {{endpoint_url: '{url}'}}\n")
        started = time.monotonic()
        result = cli("run", write(workdir, "play.yml", BOOK), "-i", inv, "--check")
        took = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()
    assert result.code == 1
    assert "cannot reach the account" in result.err and "ReadTimeoutError" in result.err
    assert calls.count("GetCallerIdentity") <= 2
    assert took < 30  # SPEC: within a minute; an ordinary read's 60-second timeout would take two of them
