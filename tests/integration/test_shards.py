"""Shards: `run --shard I/N --result F` on CI jobs, `merge` to put them back together.

The accounts are several emulated accounts on the one emulator (AssumeRole into `arn:aws:iam::ID:role/…`
gives that account's credentials); some are compliant, some drifted, so the merged report has a mix.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from remediator.model import Account
from remediator.shards import Shard, parse_shard, shard_of
from tests.conftest import REPO, cli, write
from tests.emulator import iam_in

ACCOUNT_IDS = [f"{200000000001 + i:012d}" for i in range(9)]
BOOK = """\
- accounts: all
  tasks:
    - name: Strong passwords
      iam_password_policy: {minimum_length: 14}
    - name: Cap sessions
      iam_roles: {max_session_duration: 3600}
    - name: Two admins
      iam_admins: {min: 2}
"""


def inventory(directory: Path, url: str, ids: list[str] = ACCOUNT_IDS, name: str = "inventory.yml") -> Path:
    lines = ["all:", "  accounts:"]
    for n, account_id in enumerate(ids):
        settings = {"account_id": account_id, "role_arn": f"arn:aws:iam::{account_id}:role/remediator"}
        lines.append(f"    acct{n}: {json.dumps({**settings, 'endpoint_url': url})}")
    return write(directory, name, "\n".join(lines) + "\n")


@pytest.fixture
def accounts(aws: str) -> str:
    """Some accounts already compliant on passwords, some with a long role session."""
    for account_id in ACCOUNT_IDS[::3]:
        iam_in(aws, account_id).update_account_password_policy(MinimumPasswordLength=14)
    for account_id in ACCOUNT_IDS[1::4]:
        iam_in(aws, account_id).create_role(
            RoleName="app", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
            MaxSessionDuration=43200,
        )  # fmt: skip
    return aws


def shard_names(count: int, index: int, ids: list[str] = ACCOUNT_IDS) -> list[str]:
    return [f"acct{n}" for n, account_id in enumerate(ids) if shard_of(account_id, count) == index]


# --- choosing a shard ----------------------------------------------------------------------------------


def test_shards_are_disjoint_cover_everything_and_stay_put():
    accounts = [Account(f"a{n}", account_id=f"{300000000000 + n:012d}") for n in range(200)]
    for count in (1, 2, 3, 7):
        shards = [[a.name for a in accounts if Shard(i, count).holds(a)] for i in range(1, count + 1)]
        assert sorted(sum(shards, [])) == sorted(a.name for a in accounts)  # every account, exactly once
        assert all(shards)  # and a fair share each
        grown = [*accounts, *(Account(f"new{n}", account_id=f"{400000000000 + n:012d}") for n in range(50))]
        again = [[a.name for a in grown if Shard(i, count).holds(a) and a.name.startswith("a")] for i in
                 range(1, count + 1)]  # fmt: skip
        assert again == shards  # adding accounts (or reordering them) moves none of the others
    nameless = Account("only-a-name")
    assert Shard(shard_of("only-a-name", 4), 4).holds(nameless)  # no id: the name decides


def test_a_shard_run_takes_its_share_after_limit(accounts, workdir):
    book = write(workdir, "play.yml", BOOK)
    inv = inventory(workdir, accounts)
    seen: list[str] = []
    for index in (1, 2, 3):
        result = cli("run", book, "-i", inv, "--check", "--shard", f"{index}/3", "--format", "json")
        names = [a["name"] for a in json.loads(result.out)["accounts"]]
        assert names == shard_names(3, index)
        seen += names
    assert sorted(seen) == sorted(f"acct{n}" for n in range(len(ACCOUNT_IDS)))

    limited = cli("run", book, "-i", inv, "--check", "--limit", "acct0:acct1:acct2:acct3", "--shard", "2/2",
                  "--format", "json")  # fmt: skip
    names = [a["name"] for a in json.loads(limited.out)["accounts"]]
    assert names == [n for n in shard_names(2, 2) if n in ("acct0", "acct1", "acct2", "acct3")]


def test_auto_shard_reads_the_job_index(monkeypatch):
    assert parse_shard("auto/4", {"JOB_COMPLETION_INDEX": "0"}) == Shard(1, 4)
    assert parse_shard("auto/4", {"AWS_BATCH_JOB_ARRAY_INDEX": "3"}) == Shard(4, 4)
    assert parse_shard(" 2 / 5 ") == Shard(2, 5)
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "2")
    assert parse_shard("auto/3") == Shard(3, 3)


@pytest.mark.parametrize(
    ("value", "environ", "message"),
    [
        ("auto/3", {}, "neither JOB_COMPLETION_INDEX nor AWS_BATCH_JOB_ARRAY_INDEX is set"),
        ("auto/3", {"JOB_COMPLETION_INDEX": "3"}, "past the last of 3 shards"),
        ("auto/3", {"AWS_BATCH_JOB_ARRAY_INDEX": "x"}, "is not a job index"),
        ("0/3", {}, "I must be from 1 to 3"),
        ("4/3", {}, "I must be from 1 to 3"),
        ("1/0", {}, "N must be 1 or more"),
        ("half", {}, "expected I/N"),
    ],
)
def test_bad_shards_are_bad_input(value, environ, message, aws, workdir, monkeypatch):
    for variable in ("JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"):
        monkeypatch.delenv(variable, raising=False)
    for variable, number in environ.items():
        monkeypatch.setenv(variable, number)
    result = cli("run", write(workdir, "play.yml", BOOK), "-i", inventory(workdir, aws), "--shard", value)
    assert result.code == 1 and message in result.err


# --- merging -----------------------------------------------------------------------------------------


def comparable(report: dict[str, Any]) -> list[dict[str, Any]]:
    """What a merged report must share with the unsharded run's: every account, task, change, finding."""
    return [
        {
            "name": a["name"],
            "status": a["status"],
            "counts": a["counts"],
            "tasks": [
                (t["task"], t["status"], [(c["address"], c["summary"]) for c in t["changes"]], t["findings"])
                for t in a["tasks"]
            ],
        }
        for a in report["accounts"]
    ]


@pytest.mark.slow
def test_shards_as_separate_processes_merge_into_the_unsharded_report(accounts, workdir):
    book = write(workdir, "play.yml", BOOK)
    inv = inventory(workdir, accounts)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    jobs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "remediator",
                "run",
                str(book),
                "-i",
                str(inv),
                "--check",
                "--shard",
                "auto/3",
                "--result",
                f"shard-{index}.json",
                "--format",
                "json",
            ],
            cwd=workdir,
            env={**env, "JOB_COMPLETION_INDEX": str(index)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for index in range(3)
    ]
    outputs = [job.communicate(timeout=120) for job in jobs]
    assert [job.returncode for job in jobs] == [2, 2, 2], outputs
    for index, (out, _) in enumerate(outputs):
        assert [a["name"] for a in json.loads(out)["accounts"]] == shard_names(3, index + 1)

    whole = cli("run", book, "-i", inv, "--check", "--format", "json", "--result", "whole.json")
    merged = cli("merge", "shard-2.json", "shard-0.json", "shard-1.json", "--expect-shards", "3", "--format", "json")
    assert merged.code == whole.code == 2, merged.err
    merged_report, whole_report = json.loads(merged.out), json.loads(whole.out)
    assert comparable(merged_report) == comparable(whole_report)
    assert merged_report["exit_code"] == whole_report["exit_code"] == 2
    assert "not_evaluated" not in merged_report

    text = cli("merge", "shard-0.json", "shard-1.json", "shard-2.json", "--expect-shards", "3")
    assert text.code == 2 and text.out.count("ACCOUNT [") == len(ACCOUNT_IDS)
    assert cli("merge", "whole.json", "--expect-shards", "1", "--format", "json").code == 2  # one shard of one


@pytest.fixture
def shard_results(accounts, workdir) -> list[str]:
    book = write(workdir, "play.yml", BOOK)
    inv = inventory(workdir, accounts)
    for index in (1, 2, 3):
        result = cli("run", book, "-i", inv, "--check", "--shard", f"{index}/3", "--result", f"r{index}.json")
        assert result.code == 2, result.err
    return ["r1.json", "r2.json", "r3.json"]


def test_merged_shards_give_every_format(shard_results, workdir):
    for fmt in ("text", "json", "markdown", "junit", "sarif"):
        result = cli("merge", *shard_results, "--expect-shards", "3", "--format", fmt, "--report", f"merged.{fmt}")
        assert result.code == 2, (fmt, result.err)
        assert (workdir / f"merged.{fmt}").read_text() and "RECAP" in result.out
    merged = json.loads((workdir / "merged.sarif").read_text())
    assert len(merged["runs"]) == 1  # one SARIF run for the whole merged run
    whole = cli("run", "play.yml", "-i", "inventory.yml", "--check", "--format", "sarif")
    prints = [sorted(json.dumps(r["partialFingerprints"]) for r in doc["runs"][0]["results"]) for doc in
              (merged, json.loads(whole.out))]  # fmt: skip
    assert prints[0] == prints[1] and prints[0]  # the same alerts as the unsharded run's


def test_a_missing_shard_is_partial_exit_3_and_never_sarif(shard_results, workdir):
    present = [shard_results[0], shard_results[2]]
    result = cli("merge", *present, "--expect-shards", "3", "--format", "json")
    assert result.code == 3
    data = json.loads(result.out)
    assert data["exit_code"] == 3 and data["partial"] is True
    assert data["not_evaluated"] == shard_names(3, 2)
    assert "shard(s) 2/3 missing" in data["error"]
    missing = [a for a in data["accounts"] if a["name"] in data["not_evaluated"]]
    assert all(a["status"] == "failed" and "not evaluated: shard 2/3 is missing" in a["error"] for a in missing)

    text = cli("merge", *present, "--expect-shards", "3")
    assert text.code == 3 and "not evaluated" in text.out and "shard(s) 2/3 missing" in text.err
    recap = text.out.split("RECAP", 1)[1]
    assert all("not_evaluated=1" in line for line in recap.splitlines() if line.split()[:1] == [shard_names(3, 2)[0]])

    sarif = cli("merge", *present, "--expect-shards", "3", "--format", "sarif")
    assert sarif.code == 3 and sarif.out == "" and "no SARIF is written" in sarif.err
    to_file = cli("merge", *present, "--expect-shards", "3", "--format", "sarif", "--report", "out.sarif")
    assert to_file.code == 3 and to_file.out == "" and not (workdir / "out.sarif").exists()


def test_results_that_do_not_belong_together_are_refused(shard_results, accounts, workdir):
    book = write(workdir, "other.yml", BOOK.replace("minimum_length: 14", "minimum_length: 15"))
    inv = inventory(workdir, accounts)
    cli("run", book, "-i", inv, "--check", "--shard", "2/3", "--result", "other.json")
    mixed = cli("merge", shard_results[0], "other.json", shard_results[2], "--expect-shards", "3")
    assert mixed.code == 1 and "other.json: was made from a different playbook" in mixed.err

    applied = cli("run", write(workdir, "play.yml", BOOK), "-i", inv, "--shard", "2/3", "--result", "apply.json")
    assert applied.code in (0, 2)
    options = cli("merge", shard_results[0], "apply.json", shard_results[2], "--expect-shards", "3")
    assert options.code == 1 and "different options" in options.err

    twice = cli("merge", shard_results[0], shard_results[0], "--expect-shards", "3")
    assert twice.code == 1 and "shard 1/3 is given twice" in twice.err

    count = cli("merge", *shard_results, "--expect-shards", "4")
    assert count.code == 1 and "not one of 4" in count.err

    moved = json.loads((workdir / shard_results[0]).read_text())
    moved["shard"]["index"] = 2  # shard 1's accounts claimed as shard 2's
    (workdir / "moved.json").write_text(json.dumps(moved))
    wrong = cli("merge", "moved.json", shard_results[2], "--expect-shards", "3")
    assert wrong.code == 1 and "belongs to shard 1/3, not 2/3" in wrong.err

    other_inventory = inventory(workdir, accounts, ACCOUNT_IDS[:5], name="small.yml")
    cli("run", write(workdir, "play.yml", BOOK), "-i", other_inventory, "--check", "--shard", "2/3",
        "--result", "small.json")  # fmt: skip
    selection = cli("merge", shard_results[0], "small.json", "--expect-shards", "3")
    assert selection.code == 1 and "different inventory" in selection.err

    write(workdir, "plan.json", '{"format_version": 1, "accounts": []}')
    assert "not a remediator result file" in cli("merge", "plan.json", "--expect-shards", "1").err
