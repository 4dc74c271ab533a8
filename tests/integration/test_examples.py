"""examples/github-actions: the workflows a user copies into .github/workflows.

Every workflow there parses as YAML, names only real actions at pinned major versions (an allow-list),
gets AWS credentials through OIDC and never from stored keys, and every `remediator ...` command in its
`run:` blocks parses with remediator's own argument parser (`remediator.cli.build_parser`). The shell
around the plan and apply commands is run with a stand-in `remediator` to show that exit 2 (drift,
findings) passes and exit 1 fails. With `actionlint` on PATH, it must accept every file (skipped
otherwise: actionlint is not a dependency of this project).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from remediator import planfile
from remediator.cli import build_parser
from remediator.model import Account, AccountRun, ApiCall, Change, TaskPlan
from remediator.report.markdown import MARKER
from tests.conftest import REPO

EXAMPLES = REPO / "examples" / "github-actions"
WORKFLOWS = sorted([*EXAMPLES.glob("*.yml"), *EXAMPLES.glob("*.yaml")])
MAIN_WORKFLOW = EXAMPLES / "remediator.yml"

# Real actions, each at the major version the examples are written for.
ALLOWED_ACTIONS = {
    "actions/checkout@v6",
    "actions/setup-python@v6",
    "actions/upload-artifact@v7",
    "actions/download-artifact@v8",
    "actions/github-script@v8",
    "aws-actions/configure-aws-credentials@v5",
    "github/codeql-action/upload-sarif@v4",
}
CONFIGURE_AWS = "aws-actions/configure-aws-credentials@v5"
STORED_KEY_INPUTS = ("aws-access-key-id", "aws-secret-access-key", "aws-session-token")
STORED_KEY_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.S)
HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")
SHELL_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")
COMMAND_START = {None, ";", "&&", "||", "|", "(", "{", "!", "then", "do", "else", "time", "exec"}


# --- reading the workflows -------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), f"{path.name}: not a mapping"
    return doc


def triggers(doc: dict[str, Any]) -> dict[str, Any]:
    """`on:` (YAML 1.1, as PyYAML reads it, makes the bare key `on` the boolean True)."""
    on = doc.get("on", doc.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return on or {}


def steps(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for job_id, job in (doc.get("jobs") or {}).items():
        for step in job.get("steps") or []:
            yield job_id, job, step


def step_env(doc: dict[str, Any], job: dict[str, Any], step: dict[str, Any]) -> dict[str, str]:
    """The env a step's shell sees, from the workflow, job and step (expressions left as they are)."""
    env: dict[str, str] = {}
    for level in (doc, job, step):
        env.update({str(k): str(v) for k, v in (level.get("env") or {}).items()})
    return env


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def _is_operator(token: str) -> bool:
    return bool(token) and all(c in "();<>|&" for c in token)


def remediator_commands(script: str, env: dict[str, str]) -> list[list[str]]:
    """Each `remediator ...` command in a run: script, as argv without `remediator`. `${{ }}` expressions
    become `1`; `$VAR` takes its value from the step's env, where it has one."""
    script = EXPRESSION.sub("1", script).replace("\\\n", " ")
    values = {k: EXPRESSION.sub("1", v) for k, v in env.items()}
    commands: list[list[str]] = []
    lines = iter(script.splitlines())
    for line in lines:
        heredoc = HEREDOC.search(line)
        try:
            tokens = _tokens(line)
        except ValueError as exc:
            pytest.fail(f"cannot split shell line {line!r}: {exc}")
        for i, token in enumerate(tokens):
            before = tokens[i - 1] if i else None
            if token != "remediator" or before not in COMMAND_START:
                continue
            argv: list[str] = []
            for arg in tokens[i + 1 :]:
                if _is_operator(arg):
                    break
                argv.append(SHELL_VAR.sub(lambda m: values.get(m.group(1) or m.group(2), m.group(0)), arg))
            commands.append(argv)
        if heredoc:  # the here-document's body is data, not commands
            for body in lines:
                if body.strip() == heredoc.group(1):
                    break
    return commands


def all_commands() -> list[Any]:
    params = []
    for path in WORKFLOWS:
        try:
            doc = load(path)
        except Exception:  # test_workflow_parses_as_yaml reports it
            continue
        for job_id, job, step in steps(doc):
            if "run" not in step:
                continue
            for n, argv in enumerate(remediator_commands(str(step["run"]), step_env(doc, job, step)), 1):
                name = f"{path.name}:{job_id}:{step.get('id') or step.get('name', '?')}:{n}"
                params.append(pytest.param(argv, id=name))
    return params


# --- the real parser -------------------------------------------------------------------------------


def parse(argv: list[str], capsys: pytest.CaptureFixture[str]) -> argparse.Namespace:
    try:
        return build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"`remediator {shlex.join(argv)}` does not parse (exit {exc.code}): {capsys.readouterr().err}")


# --- the tests -------------------------------------------------------------------------------------


def test_examples_exist() -> None:
    assert MAIN_WORKFLOW in WORKFLOWS
    assert (EXAMPLES / "README.md").is_file()


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_parses_as_yaml(path: Path) -> None:
    doc = load(path)
    assert doc.get("name")
    assert triggers(doc), f"{path.name}: no `on:`"
    jobs = doc.get("jobs")
    assert isinstance(jobs, dict) and jobs, f"{path.name}: no jobs"
    for job_id, job in jobs.items():
        assert job.get("runs-on"), f"{path.name}: job {job_id} has no runs-on"
        assert isinstance(job.get("steps"), list) and job["steps"], f"{path.name}: job {job_id} has no steps"
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), f"{path.name}: {job_id}: a step needs `uses` or `run`"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_only_allow_listed_actions_at_pinned_majors(path: Path) -> None:
    doc = load(path)
    used = set()
    for job_id, job in doc["jobs"].items():
        assert "uses" not in job, f"{path.name}: job {job_id} calls a reusable workflow"
        for step in job["steps"]:
            if "uses" in step:
                used.add(step["uses"])
    assert used, f"{path.name}: uses no action"
    assert used <= ALLOWED_ACTIONS, f"{path.name}: not allow-listed: {sorted(used - ALLOWED_ACTIONS)}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_aws_credentials_come_from_oidc_never_from_stored_keys(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for needle in (*STORED_KEY_ENV, "secrets.AWS", *STORED_KEY_INPUTS):
        assert needle.lower() not in text.lower(), f"{path.name} mentions {needle}"
    assert not re.search(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", text), f"{path.name} holds something like an access key id"
    doc = load(path)
    assert doc.get("permissions") in ({}, None) or "id-token" not in doc["permissions"], "grant id-token per job"
    assuming = 0
    for job_id, job in doc["jobs"].items():
        configure = [s for s in job["steps"] if s.get("uses") == CONFIGURE_AWS]
        if not configure:
            continue
        assuming += 1
        assert (job.get("permissions") or {}).get("id-token") == "write", f"{job_id}: no `id-token: write`"
        for step in configure:
            inputs = step.get("with") or {}
            assert inputs.get("role-to-assume"), f"{job_id}: configure-aws-credentials without role-to-assume"
            assert inputs.get("aws-region"), f"{job_id}: configure-aws-credentials without aws-region"
            assert not set(STORED_KEY_INPUTS) & inputs.keys(), f"{job_id}: stored keys"
    assert assuming, f"{path.name}: no job gets AWS credentials"


@pytest.mark.parametrize("argv", all_commands())
def test_remediator_command_parses_with_the_real_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert argv, "a bare `remediator`"
    args = parse(argv, capsys)
    if args.command == "run":
        assert (REPO / args.playbook).is_file(), f"no playbook {args.playbook} in this repository"


def test_every_workflow_runs_remediator() -> None:
    for path in WORKFLOWS:
        doc = load(path)
        found = [
            argv
            for _, job, step in steps(doc)
            if "run" in step
            for argv in remediator_commands(str(step["run"]), step_env(doc, job, step))
        ]
        assert found, f"{path.name}: no remediator command found"


# --- remediator.yml: what the issue asks of it -----------------------------------------------------


@pytest.fixture(scope="module")
def main_doc() -> dict[str, Any]:
    return load(MAIN_WORKFLOW)


def _job_steps(job: dict[str, Any], uses: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if s.get("uses") == uses]


def _run_command(job: dict[str, Any], doc: dict[str, Any], subcommand: str) -> list[list[str]]:
    return [
        argv
        for step in job["steps"]
        if "run" in step
        for argv in remediator_commands(str(step["run"]), step_env(doc, job, step))
        if argv and argv[0] == subcommand
    ]


def test_plans_pull_requests_that_touch_the_baseline_and_applies_on_main(main_doc: dict[str, Any]) -> None:
    on = triggers(main_doc)
    paths = set(on["pull_request"]["paths"])
    assert {"playbooks/**", "inventories/**", "templates/**", "waivers.yml"} <= paths
    assert on["push"]["branches"] == ["main"]


def test_pull_request_job_plans_comments_uploads_sarif_and_keeps_the_plan(main_doc: dict[str, Any]) -> None:
    jobs = main_doc["jobs"]
    job = jobs["plan"]
    assert "pull_request" in job["if"]
    perms = job["permissions"]
    for key, value in {
        "id-token": "write",
        "contents": "read",
        "pull-requests": "write",
        "security-events": "write",
    }.items():
        assert perms.get(key) == value, key
    (argv,) = _run_command(job, main_doc, "run")
    for flag, value in {"--plan-out": "plan.json", "--format": "sarif", "--report": "remediator.sarif"}.items():
        assert argv[argv.index(flag) + 1] == value
    assert "--check" in argv and "--waivers" in argv
    assert argv[1:2] == ["playbooks/cis-iam-baseline.yml"]
    assert _run_command(job, main_doc, "show"), "the comment is rendered from the saved plan"
    (comment,) = _job_steps(job, "actions/github-script@v8")
    assert MARKER in comment["with"]["script"], "the sticky comment is found by remediator's hidden marker"
    (sarif,) = _job_steps(job, "github/codeql-action/upload-sarif@v4")
    assert "hashFiles('remediator.sarif')" in sarif["if"], "SARIF is uploaded only when it was written"
    (artifact,) = _job_steps(job, "actions/upload-artifact@v7")
    assert artifact["with"]["path"] == "plan.json"
    (creds,) = _job_steps(job, CONFIGURE_AWS)
    assert "REMEDIATOR_PLAN_ROLE_ARN" in creds["with"]["role-to-assume"]


def test_apply_is_gated_serialised_and_applies_the_plan_of_this_run(main_doc: dict[str, Any]) -> None:
    jobs = main_doc["jobs"]
    apply = jobs["apply"]
    assert apply["environment"], "the apply waits for the protected environment's approval"
    assert apply["concurrency"]["cancel-in-progress"] is False and apply["concurrency"]["group"]
    assert main_doc["concurrency"]["group"], "pushes to main run one at a time"
    planner = jobs[apply["needs"]]
    assert planner["if"] == "github.event_name == 'push'"
    assert "environment" not in planner
    (creds,) = _job_steps(apply, CONFIGURE_AWS)
    assert "REMEDIATOR_APPLY_ROLE_ARN" in creds["with"]["role-to-assume"]
    for job_id, job in jobs.items():  # the write role only behind the approval
        for step in _job_steps(job, CONFIGURE_AWS):
            if "APPLY" in step["with"]["role-to-assume"]:
                assert job.get("environment"), job_id
    (uploaded,) = _job_steps(planner, "actions/upload-artifact@v7")
    (downloaded,) = _job_steps(apply, "actions/download-artifact@v8")
    assert uploaded["with"]["name"] == downloaded["with"]["name"], "apply takes the plan this run made"
    assert "github-token" not in downloaded["with"] and "run-id" not in downloaded["with"], "never another run's"
    (argv,) = _run_command(apply, main_doc, "apply")
    assert argv[1] == uploaded["with"]["path"]
    (plan_argv,) = _run_command(planner, main_doc, "run")
    assert "--check" in plan_argv and plan_argv[plan_argv.index("--plan-out") + 1] == argv[1]
    assert apply["if"] == "needs.plan-main.outputs.apply == 'true'"
    assert planner["outputs"]["apply"] == "${{ steps.count.outputs.apply }}"


# --- the shell around the commands, run with a stand-in remediator ---------------------------------


def _stub(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "remediator"
    stub.write_text('#!/bin/sh\necho "remediator $*" >> "$STUB_LOG"\nexit "$STUB_RC"\n', encoding="utf-8")
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return bin_dir


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert not EXPRESSION.search(script), "expressions reach the script through env:, never inline"
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    # GitHub's `bash` shell: bash --noprofile --norc -eo pipefail {0}
    return subprocess.run(
        [bash, "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _plan_and_apply_steps() -> list[Any]:
    doc = load(MAIN_WORKFLOW)
    found = []
    for job_id, _job, step in steps(doc):
        script = str(step.get("run", ""))
        if ("remediator run" in script and "--plan-out" in script) or "remediator apply" in script:
            found.append(pytest.param(script, id=f"{job_id}:{step['id']}"))
    return found


@pytest.mark.parametrize("script", _plan_and_apply_steps())
@pytest.mark.parametrize(("rc", "passes"), [(0, True), (2, True), (1, False)])
def test_exit_2_is_not_a_failure_and_exit_1_is(script: str, rc: int, passes: bool, tmp_path: Path) -> None:
    output, summary, log = tmp_path / "output", tmp_path / "summary", tmp_path / "log"
    env = {
        "PATH": f"{_stub(tmp_path)}{os.pathsep}{os.environ.get('PATH', '')}",
        "STUB_RC": str(rc),
        "STUB_LOG": str(log),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    done = _bash(script, tmp_path, env)
    assert (done.returncode == 0) is passes, done.stdout + done.stderr
    if not passes:
        assert done.returncode == rc
    assert f"exit-code={rc}" in output.read_text(encoding="utf-8").splitlines()
    assert log.read_text(encoding="utf-8").startswith("remediator ")


def _plan_file(path: Path, changes: int) -> None:
    change = Change(
        address="prod/global/iam_password_policy/account",
        module="iam_password_policy",
        resource="account",
        action="update",
        before={"MinimumPasswordLength": 8},
        after={"MinimumPasswordLength": 14},
        calls=(ApiCall("iam", "UpdateAccountPasswordPolicy", {"MinimumPasswordLength": 14}),),
        undo=None,
        summary="minimum_length 8 → 14",
    )
    plan = TaskPlan(account="prod", task="t", module="iam_password_policy", location="", changes=[change] * changes)
    runs = [AccountRun(account=Account("prod", account_id="111111111111"), task_plans=[plan])]
    planfile.write(path, runs, playbook="playbooks/cis-iam-baseline.yml", playbook_digest="x", inventory_digest="y")


@pytest.mark.parametrize(("changes", "apply"), [(0, "false"), (2, "true")])
def test_the_apply_job_runs_only_for_a_plan_with_changes(changes: int, apply: str, tmp_path: Path) -> None:
    doc = load(MAIN_WORKFLOW)
    (step,) = [s for _, _, s in steps(doc) if s.get("id") == "count"]
    _plan_file(tmp_path / "plan.json", changes)
    assert json.loads((tmp_path / "plan.json").read_text(encoding="utf-8"))["accounts"]
    output = tmp_path / "output"
    python_dir = str(Path(sys.executable).parent)
    env = {"GITHUB_OUTPUT": str(output), "PATH": f"{python_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = _bash(str(step["run"]), tmp_path, env)
    assert done.returncode == 0, done.stderr
    lines = output.read_text(encoding="utf-8").splitlines()
    assert f"changes={changes}" in lines and f"apply={apply}" in lines


# --- actionlint, where it is installed -------------------------------------------------------------


def test_actionlint_accepts_the_workflows() -> None:
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.skip("actionlint is not on PATH (it is not a dependency; its PyPI wrapper downloads the binary)")
    done = subprocess.run(
        [actionlint, "-no-color", *map(str, WORKFLOWS)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
