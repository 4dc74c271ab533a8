"""The command line: a thin layer over loader → prepare → planner → applier → report.

Imports are made where a command needs them: `--version`, `doc`, `schema` and `validate` call no AWS
API and never import boto3 (importing it was most of a second of every start).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remediator import __version__
from remediator.errors import ConfigError, RemediatorError

if TYPE_CHECKING:
    from remediator import runner
    from remediator.loader.inventory import Inventory
    from remediator.model import Account, AccountRun
    from remediator.prepare import Prepared
    from remediator.report import Report

FORMATS = ("text", "json", "markdown", "junit", "sarif")
EXIT_ERROR = 1  # remediator.report.EXIT_ERROR, without importing the report package for every command
log = logging.getLogger("remediator")


def main(argv: Sequence[str] | None = None) -> int:
    _tolerant_output()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help and --version exit 0; usage errors exit 1, already printed
        return int(exc.code or 0)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "debug", False) else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # botocore's own debug log prints response bodies, AssumeRole's session credentials among them:
    # --debug shows remediator's own log (retries, reads), never those.
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.handler(args))
    except RemediatorError as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        if getattr(args, "format", None) == "json" and not getattr(args, "report", None):
            print(json.dumps({"format_version": 1, "error": str(exc), "exit_code": EXIT_ERROR, "accounts": []}))
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: still one line, unless --debug
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", file=sys.stderr)
        return EXIT_ERROR


def _tolerant_output() -> None:
    """A terminal or pipe that cannot encode a character (PYTHONIOENCODING=ascii, a C locale) gets it
    escaped: the report of a run that has already written to AWS must never be lost to an encoding."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and (getattr(stream, "encoding", "") or "").lower().replace("-", "") != "utf8":
            reconfigure(errors="backslashreplace")


class _Parser(argparse.ArgumentParser):
    """Usage errors are bad input: one line, exit 1 (exit 2 means 'not compliant' to CI)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_ERROR)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="remediator", description="Remediate AWS IAM security baselines.")
    parser.add_argument("--version", action="version", version=f"remediator {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", help="tracebacks and retry logs")

    run = sub.add_parser("run", parents=[common], help="plan a playbook against accounts, and apply it unless --check")
    run.add_argument("playbook")
    _inventory_options(run)
    run.add_argument("--check", action="store_true", help="plan and report; write nothing")
    run.add_argument("--diff", action="store_true", help="show before/after of each change")
    run.add_argument("--limit", help="accounts: names, groups, globs, !name, a:b")
    run.add_argument("--tags", default="", help="run only tasks with these tags (comma-separated)")
    run.add_argument("--skip-tags", default="", help="skip tasks with these tags (comma-separated)")
    run.add_argument("--forks", type=int, default=5, help="accounts planned and applied at once (threads)")
    run.add_argument("--plan-out", help="write the plan to this file (apply it later with `remediator apply`)")
    run.add_argument("--max-changes", type=int, help="refuse a run that would make more changes than this")
    run.add_argument(
        "--preflight",
        action="store_true",
        help="only reach every selected account (assume its role, one call); list the unreachable; change nothing",
    )
    run.add_argument(
        "--shard",
        metavar="I/N|auto/N",
        help="take only shard I of N of the selected accounts (by account id); auto: from JOB_COMPLETION_INDEX"
        " or AWS_BATCH_JOB_ARRAY_INDEX",
    )
    run.add_argument("--result", metavar="FILE", help="write this run's result for `remediator merge` to FILE")
    _output_options(run)
    _gitops_options(run)
    run.set_defaults(handler=cmd_run)

    merge = sub.add_parser(
        "merge", parents=[common], help="merge the results of a sharded run (`run --shard I/N --result F`)"
    )
    merge.add_argument("results", nargs="+", metavar="RESULT")
    merge.add_argument("--expect-shards", type=int, required=True, metavar="N", help="how many shards the run had")
    merge.add_argument("--format", choices=FORMATS, default="text")
    merge.add_argument("--report", help="write the report in --format to this file; stdout stays text")
    _gitops_options(merge)
    merge.set_defaults(handler=cmd_merge)

    show = sub.add_parser("show", parents=[common], help="a saved plan (`run --plan-out`), rendered for review")
    show.add_argument("plan")
    show.add_argument("--format", choices=("text", "markdown"), default="text")
    _gitops_options(show)
    show.set_defaults(handler=cmd_show)

    inventory = sub.add_parser("inventory", parents=[common], help="make inventories")
    inventory_sub = inventory.add_subparsers(dest="inventory_command", required=True, metavar="SUBCOMMAND")
    from_org = inventory_sub.add_parser(
        "from-org",
        parents=[common],
        help="the organisation's ACTIVE accounts, grouped by OU, as an inventory (YAML on stdout)",
    )
    from_org.add_argument("--ou", metavar="PATH", help="only this OU and those below it: Workloads/Prod, or ou-…")
    from_org.add_argument(
        "--role-name", default="OrganizationAccountAccessRole", help="the role to assume in each account"
    )
    from_org.add_argument("--profile", help="AWS profile of the management (or delegated administrator) account")
    from_org.add_argument("--region", default="us-east-1", help="Organizations' region (default us-east-1)")
    from_org.add_argument("--endpoint-url", help="Organizations endpoint (an emulator, a VPC endpoint)")
    from_org.set_defaults(handler=cmd_inventory_from_org)

    apply = sub.add_parser(
        "apply", parents=[common], help="apply a saved plan exactly; changes no longer matching it are skipped"
    )
    apply.add_argument("plan")
    apply.add_argument("--forks", type=int, default=5)
    apply.add_argument("--max-changes", type=int, help="refuse a plan that would make more changes than this")
    apply.add_argument("-i", "--inventory", help=SECRETS_FROM_INVENTORY)
    _output_options(apply)
    _gitops_options(apply)
    apply.set_defaults(handler=cmd_apply, diff=False)

    validate = sub.add_parser(
        "validate", parents=[common], help="check a playbook offline: syntax, schema, options, templates"
    )
    validate.add_argument("playbook")
    _inventory_options(validate)
    validate.set_defaults(handler=cmd_validate)

    rollback = sub.add_parser("rollback", parents=[common], help="undo the changes a journal records, newest first")
    rollback.add_argument("journal")
    rollback.add_argument("--check", action="store_true", help="show what would be undone")
    rollback.add_argument("-i", "--inventory", help=SECRETS_FROM_INVENTORY)
    rollback.set_defaults(handler=cmd_rollback)

    doc = sub.add_parser("doc", parents=[common], help="list modules, or show one module's options and example")
    doc.add_argument("module", nargs="?")
    doc.set_defaults(handler=cmd_doc)

    perms = sub.add_parser("permissions", parents=[common], help="least-privilege IAM policy for running a playbook")
    perms.add_argument("playbook")
    perms.add_argument("--check", action="store_true", help="only what check mode needs")
    perms.set_defaults(handler=cmd_permissions)

    schema = sub.add_parser("schema", parents=[common], help="JSON Schema of playbooks, for editors")
    schema.set_defaults(handler=cmd_schema)

    activity = sub.add_parser(
        "activity", parents=[common], help="who did what, from where, and what failed (CloudTrail events)"
    )
    _inventory_options(activity)
    activity.add_argument("--limit", help="accounts: names, groups, globs, !name, a:b")
    activity.add_argument("--since", help="window start: Nd (days ago) or a date/time (default 30d)")
    activity.add_argument("--until", help="window end: a date/time (default now)")
    activity.add_argument("--source", choices=("auto", "lookup", "s3"), default="auto")
    activity.add_argument("--principal", action="append", default=[], metavar="ARN", help="only this principal")
    activity.add_argument("--format", choices=("text", "json", "csv", "markdown"), default="text")
    activity.add_argument("--report", help="write the report in --format to this file; stdout stays text")
    activity.add_argument("--forks", type=int, default=5, help="accounts read in parallel")
    activity.set_defaults(handler=cmd_activity)

    sandbox = sub.add_parser("sandbox", parents=[common], help="serve the emulator with the demo account until Ctrl-C")
    sandbox.add_argument("--port", type=int, default=5000)
    sandbox.set_defaults(handler=cmd_sandbox)
    return parser


def _inventory_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--inventory", help="inventory file (default: the current credentials' account)")
    parser.add_argument(
        "-e", "--extra-vars", action="append", default=[], metavar="KEY=VALUE|@FILE", help="extra variables"
    )


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--journal", help="journal file (default: .remediator/journal/<time>.jsonl)")
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument("--report", help="write the report in --format to this file; stdout stays text")


def _gitops_options(parser: argparse.ArgumentParser) -> None:
    from remediator.report import FAIL_ON_CHOICES

    parser.add_argument(
        "--waivers", metavar="FILE", help="accepted findings (YAML: resource, rule, reason, owner, expires)"
    )
    parser.add_argument(
        "--fail-on",
        type=str.lower,
        choices=FAIL_ON_CHOICES,
        help="only open findings at or above this severity make the exit code 2 (default: every open finding)",
    )


def _waivers(args: argparse.Namespace) -> list[Any]:
    """The --waivers file, loaded (bad input: a ConfigError naming file and line) before any AWS call."""
    from remediator.waivers import load_waivers

    return load_waivers(args.waivers) if getattr(args, "waivers", None) else []


def _judge_account(waivers: list[Any], fail_on: str | None) -> Any:
    """What changes how an account renders, set on the report before the account is streamed: the
    threshold, and the waivers covering its findings (the warnings come once, with the whole report)."""
    from remediator import timeutil
    from remediator.waivers import mark_waived

    def judge(report: Report, run: AccountRun) -> None:
        report.fail_on = fail_on
        mark_waived(report, run, waivers, timeutil.now().date())

    return judge


def _judge(report: Report, args: argparse.Namespace, waivers: list[Any], *, partial: bool = False) -> None:
    """--fail-on and --waivers on the whole report (a partial run does not warn of waivers it did not reach)."""
    from remediator.waivers import apply_waivers

    report.fail_on = getattr(args, "fail_on", None)
    if waivers:
        apply_waivers(report, waivers, warn_unmatched=not partial)


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def load_run_inputs(args: argparse.Namespace) -> tuple[Any, Inventory, Prepared]:
    """Everything before the first AWS call. Bad input raises here, having called nothing."""
    from remediator.loader.extra_vars import parse_extra_vars
    from remediator.loader.inventory import implicit_inventory, load_inventory
    from remediator.loader.playbook import load_playbook
    from remediator.prepare import Selection, prepare
    from remediator.templating import Renderer, template_dirs

    playbook = load_playbook(args.playbook)
    inventory = load_inventory(args.inventory) if args.inventory else implicit_inventory()
    extra = parse_extra_vars(args.extra_vars)
    selection = Selection(
        limit=getattr(args, "limit", None),
        tags=_split(getattr(args, "tags", "") or ""),
        skip_tags=_split(getattr(args, "skip_tags", "") or ""),
    )
    prepared = prepare(playbook, inventory, extra, selection, Renderer(template_dirs(args.playbook)))
    return playbook, inventory, prepared


class EmbeddedEmulators:
    """Starts the embedded emulator (seeded with the demo account) for accounts that ask for it."""

    def __init__(self) -> None:
        self.emulator: Any = None

    def resolve(self, accounts: list[Any]) -> list[Any]:
        if not any(a.endpoint_url == "embedded" for a in accounts):
            return accounts
        from remediator.sandbox import demo
        from remediator.sandbox.server import Emulator

        self.emulator = Emulator()
        self.emulator.reset()  # the emulator's state is per process: start from the demo account alone
        demo.seed(self.emulator.url)
        return [replace(a, endpoint_url=self.emulator.url) if a.endpoint_url == "embedded" else a for a in accounts]

    def stop(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()


# Every file a command may write, by its option: checked before the first AWS call (`check_output_paths`).
OUTPUT_OPTIONS = (("plan_out", "--plan-out"), ("report", "--report"), ("result", "--result"), ("journal", "--journal"))
DEFAULT_JOURNAL_DIR = Path(".remediator") / "journal"  # remediator.runner.default_journal_path's directory


def check_output_paths(args: argparse.Namespace, *, journal: bool = False) -> None:
    """Refuse, before the first AWS call, an output that could not be written once the work is done (a
    report lost after the changes were applied): each file's directory must be writable (a missing one is
    made now), and the file must not be a directory; no two options may name one file. `journal`: the command writes a
    journal; without --journal, the default one's directory must be one remediator can create."""
    seen: dict[str, str] = {}
    for attr, option in OUTPUT_OPTIONS:
        value = getattr(args, attr, None)
        if not value:
            continue
        problem = output_problem(Path(value))
        if problem:
            raise ConfigError(f"{option} {value}: {problem}")
        real = os.path.realpath(value)
        if real in seen:
            raise ConfigError(f"{seen[real]} and {option} name the same file ({value})")
        seen[real] = option
    if journal and not getattr(args, "journal", None):
        problem = directory_problem(DEFAULT_JOURNAL_DIR)
        if problem:
            raise ConfigError(f"the default journal directory {DEFAULT_JOURNAL_DIR}: {problem}; give --journal FILE")


def output_problem(path: Path) -> str | None:
    """Why a file could not be written at `path`, or None."""
    if path.is_dir():
        return "is a directory; give a file name"
    parent = path.parent
    if not parent.exists():  # made now, before the first call, as the default journal's directory is
        problem = directory_problem(parent)
        if problem:
            return problem
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"directory {parent} cannot be made: {exc.strerror or exc}"
    if not parent.is_dir():
        return f"{parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"directory {parent} is not writable"
    if path.exists() and not os.access(path, os.W_OK):
        return "is not writable"
    return None


def directory_problem(directory: Path) -> str | None:
    """Why `directory` could neither be used nor created, or None: its nearest existing part must be a
    writable directory."""
    for part in (directory, *directory.parents):
        if part.exists():
            if not part.is_dir():
                return f"{part} is not a directory"
            if not os.access(part, os.W_OK | os.X_OK):
                return f"{part} is not writable"
            return None
    return None


def _options(args: argparse.Namespace) -> runner.Options:
    from remediator import runner

    if getattr(args, "forks", 5) < 1:
        raise ConfigError("--forks must be 1 or more")
    if getattr(args, "max_changes", None) is not None and args.max_changes < 0:
        raise ConfigError("--max-changes must be 0 or more")
    return runner.Options(
        check=getattr(args, "check", False),
        forks=getattr(args, "forks", 5),
        max_changes=getattr(args, "max_changes", None),
        journal=getattr(args, "journal", None),
        diff=getattr(args, "diff", False),
    )


def cmd_run(args: argparse.Namespace) -> int:
    from remediator import shards

    shard = shards.parse_shard(args.shard) if args.shard else None  # bad input before anything is read
    if args.preflight and (args.plan_out or args.result):
        raise ConfigError("--preflight changes nothing and writes no plan or result: drop --plan-out and --result")
    if args.preflight and args.format not in ("text", "json"):
        raise ConfigError(f"--preflight prints text or json, not {args.format}")
    playbook, inventory, prepared = load_run_inputs(args)
    waivers = _waivers(args)
    selection = list(prepared.accounts)
    if shard is not None:
        held = [a for a in prepared.accounts if shard.holds(a)]
        names = {a.name for a in held}
        prepared = replace(
            prepared, accounts=held, task_plans={n: p for n, p in prepared.task_plans.items() if n in names}
        )
    options = _options(args)
    check_output_paths(args, journal=not args.check and not args.preflight)
    if args.preflight:
        return cmd_preflight(args, prepared.accounts, options.forks)
    from remediator import planfile, runner

    embedded = EmbeddedEmulators()

    def save_plan(report: Report) -> None:
        report.playbook = playbook.path
        if not args.plan_out:
            return
        # an embedded emulator ends with this process: the plan says so, and `apply` refuses it clearly
        as_planned = {a.name: a for a in prepared.accounts}

        def planned(run: AccountRun) -> AccountRun:
            account = as_planned[run.account.name]
            if account.account_id is None and run.account.account_id:  # apply writes there, and nowhere else
                account = replace(account, account_id=run.account.account_id)
            return replace(run, account=account)

        planfile.write(
            args.plan_out,
            [planned(run) for run in report.runs],
            playbook=playbook.path,
            playbook_digest=playbook.digest,
            inventory_digest=inventory.digest,
            max_changes=options.max_changes,
            refused=report.error,  # a guard of the whole run tripped: apply refuses the plan
        )
        report.plan_file = args.plan_out

    live = LiveOutput(stream_text=_stdout_is_text(args))
    live.before_render = _judge_account(waivers, args.fail_on)
    try:
        accounts = embedded.resolve(prepared.accounts)
        report = runner.run_playbook(
            accounts,
            prepared.task_plans,
            options,
            warnings=prepared.warnings,
            before_apply=save_plan,
            events=live,
        )
        report.playbook = playbook.path
    finally:
        embedded.stop()
        live.close()
    _judge(report, args, waivers, partial=bool(args.limit or args.tags or args.skip_tags or shard))
    unwritten = []
    if args.result:
        try:
            shards.write_result(
                args.result,
                report.to_dict(),
                playbook=playbook.path,
                playbook_digest=playbook.digest,
                inventory_digest=inventory.digest,
                options=_options_digest(args),
                shard=shard,
                selection=selection,
                covered=prepared.accounts,
                diff=options.diff,
            )
        except OSError as exc:  # the run is done: its report still goes out, with this error
            unwritten.append(f"--result {args.result}: cannot write: {exc.strerror or exc}")
    return emit(report, args, live, unwritten)


def _options_digest(args: argparse.Namespace) -> str:
    """What besides the files makes two runs comparable; extra vars and waivers hashed, never written."""
    from remediator import shards

    def file_digest(path: str | None) -> str | None:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path and Path(path).is_file() else path

    extra = [file_digest(v[1:]) if v.startswith("@") else v for v in args.extra_vars]
    return shards.options_digest(
        check=args.check,
        diff=args.diff,
        limit=args.limit,
        tags=sorted(_split(args.tags or "")),
        skip_tags=sorted(_split(args.skip_tags or "")),
        extra_vars=hashlib.sha256(json.dumps(extra).encode()).hexdigest(),
        max_changes=args.max_changes,
        fail_on=getattr(args, "fail_on", None),
        waivers=file_digest(getattr(args, "waivers", None)),
    )


def cmd_preflight(args: argparse.Namespace, accounts: list[Any], forks: int) -> int:
    """Reach every selected account, change nothing; exit 1 if any is unreachable."""
    from remediator import runner

    embedded = EmbeddedEmulators()
    live = LiveOutput(stream_text=False)
    try:
        resolved = embedded.resolve(accounts)
        reached = runner.preflight(resolved, forks, events=live)
    finally:
        embedded.stop()
        live.close()
    reached = [replace(r, account=a) for r, a in zip(reached, accounts, strict=True)]  # names as written
    failed = [r for r in reached if not r.ok]
    code = EXIT_ERROR if failed else 0
    if args.format == "json":
        data = {
            "format_version": 1,
            "preflight": True,
            "accounts": [
                {
                    "name": r.account.name,
                    "account_id": r.account.account_id,
                    "reachable": r.ok,
                    "arn": r.arn,
                    "error": r.error,
                }
                for r in reached
            ],  # fmt: skip
            "unreachable": len(failed),
            "exit_code": code,
        }
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    else:
        text = _preflight_text(reached)
    if args.report:
        try:
            Path(args.report).write_text(text, encoding="utf-8")
        except OSError as exc:
            failed_report = f"--report {args.report}: cannot write: {exc.strerror or exc}"
            print(f"error: {failed_report}", file=sys.stderr)
            code = EXIT_ERROR
        text = _preflight_text(reached) if args.format != "text" else text
    sys.stdout.write(text)
    sys.stdout.flush()
    for r in failed:
        print(f"error: account {r.account.name!r}: {r.error}", file=sys.stderr)
    return code


def _preflight_text(reached: list[Any]) -> str:
    failed = [r for r in reached if not r.ok]
    lines = [f"PREFLIGHT: {len(reached)} account(s): {len(reached) - len(failed)} reachable, {len(failed)} unreachable"]
    for r in reached:
        label = f"{r.account.name} ({r.account.account_id})" if r.account.account_id else r.account.name
        if r.ok:
            lines.append(f"  ok           {label} as {r.arn}")
        else:
            lines.append(f"  UNREACHABLE  {label}: {r.error}")
    lines.append(f"unreachable={len(failed)}")
    return "\n".join(lines) + "\n"


def _stdout_is_text(args: argparse.Namespace) -> bool:
    return args.format == "text" or bool(args.report)


class LiveOutput:
    """How a run shows itself while it goes (`runner.Events`).

    - On a terminal, one status line on stderr, rewritten in place: the phase, accounts done of the
      total, the account being worked on, throttles so far. In CI and pipes stderr carries errors alone
      (nothing here is written there): a log that is not a terminal gets the streamed results instead.
    - When stdout is text, each account's part of the report is written as soon as the account's result
      is final, whole (under a lock: two accounts' lines never interleave); the rest of the report (the
      warnings, the recap) follows at the end (`finish`). In another format stdout waits for the end.
      What changes how an account renders (waivers) must be on the report by then: `before_render`
      hears each account just before it is written.
    """

    def __init__(self, *, stream_text: bool, stderr: Any = None, stdout: Any = None) -> None:
        self.before_render: Any = None  # (report, run) -> None, called before an account is streamed
        self.stderr = stderr or sys.stderr
        self.stdout = stdout or sys.stdout
        self.tty = bool(getattr(self.stderr, "isatty", lambda: False)())
        self.stream_text = stream_text
        self.streamed: dict[str, str] = {}  # account name → the block written
        self.phase_name = ""
        self.total = 0
        self.done_count = 0
        self.current = ""
        self.throttles = 0
        self._status_shown = False
        self._lock = threading.RLock()

    # runner.Events
    def phase(self, name: str, total: int) -> None:
        with self._lock:
            self.phase_name, self.total, self.done_count = name, total, 0
            self._draw()

    def started(self, account: Any) -> None:
        with self._lock:
            self.current = account.name
            self._draw()

    def done(self, account: Any) -> None:
        with self._lock:
            self.done_count += 1
            self._draw()

    def throttled(self, account: Any, total: int) -> None:
        with self._lock:
            self.throttles = total
            self._draw()

    def finished(self, report: Report, run: AccountRun) -> None:
        if not self.stream_text:
            return
        if self.before_render is not None:
            self.before_render(report, run)
        block = _account_text(report, run)
        with self._lock:
            self._clear()
            self.stdout.write(block + "\n")
            self.stdout.flush()
            self.streamed[run.account.name] = block
            self._draw()

    # the end
    def finish(self, report: Report) -> str:
        """The text report minus what was streamed already: the warnings, the recap, the files."""
        from remediator.report import render

        full = render(report, "text")
        if not self.streamed:
            return full
        blocks = [_account_text(report, run) for run in report.runs]
        same = len(self.streamed) == len(report.runs) and all(
            self.streamed.get(run.account.name) == block for run, block in zip(report.runs, blocks, strict=True)
        )
        joined = "\n".join(blocks)
        where = full.find(joined) if same and joined else -1
        if where < 0:  # the report changed after streaming (or renders otherwise): say it all again
            return "\n" + "=" * 20 + " full report " + "=" * 20 + "\n" + full
        tail = full[where + len(joined) :]
        return full[:where] + (tail[1:] if tail.startswith("\n") else tail)

    def close(self) -> None:
        with self._lock:
            self._clear()

    def _draw(self) -> None:
        if not self.tty or not self.phase_name:
            return
        width = shutil.get_terminal_size((100, 20)).columns
        line = f"{self.phase_name} {self.done_count}/{self.total} accounts"
        if self.current and self.done_count < self.total:
            line += f" · {self.current}"
        if self.throttles:
            line += f" · throttled {self.throttles}×"
        self.stderr.write("\r\x1b[K" + line[: max(10, width - 1)])
        self.stderr.flush()
        self._status_shown = True

    def _clear(self) -> None:
        if self.tty and self._status_shown:
            self.stderr.write("\r\x1b[K")
            self.stderr.flush()
            self._status_shown = False


def _account_text(report: Report, run: AccountRun) -> str:
    """One account's part of the text report, exactly as the whole report renders it."""
    from remediator.report import text

    lines = text.render_account(report, run)
    return lines if isinstance(lines, str) else "\n".join(lines)


def emit(
    report: Report, args: argparse.Namespace, live: LiveOutput | None = None, unwritten: list[str] | None = None
) -> int:
    """Write the report (file first, then stdout) and every error to stderr. A file that cannot be written
    after all (the disk filled up since `check_output_paths`) is an error, and stdout still gets the report."""
    from remediator.report import render

    unwritten = list(unwritten or [])
    if args.report:
        try:
            Path(args.report).write_text(render(report, args.format), encoding="utf-8")
        except OSError as exc:
            unwritten.append(f"--report {args.report}: cannot write: {exc.strerror or exc}")
        sys.stdout.write(live.finish(report) if live and live.streamed else render(report, "text"))
    elif args.format == "text" and live and live.streamed:
        sys.stdout.write(live.finish(report))
    else:
        sys.stdout.write(render(report, args.format))
    sys.stdout.flush()
    for line in error_lines(report) + unwritten:
        print(f"error: {line}", file=sys.stderr)
    return EXIT_ERROR if unwritten else report.exit_code


def error_lines(report: Report) -> list[str]:
    """The run's errors, one line each: the run's, each account's, each failed task's own, each change
    that failed, was stale or did not converge, and an account that did not converge. Whatever makes the
    exit code 1 has its line here (a change skipped after another failed has the failure's)."""
    from remediator.model import FAILED, NOT_CONVERGED, STALE

    lines = [report.error] if report.error else []
    for run in report.runs:
        name = run.account.name
        if run.error:
            lines.append(f"account {name!r}: {run.error}")
        for plan in run.task_plans:
            if plan.error and not run.error:
                lines.append(f"account {name!r}: {plan.location}: task {plan.task!r}: {plan.error}")
        for result in run.results:
            if result.status in (FAILED, STALE, NOT_CONVERGED):
                lines.append(f"account {name!r}: {result.address}: {result.message or result.status}")
        if run.converged is False and not run.error:
            left = [c.address for c in run.leftover]
            shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
            lines.append(f"account {name!r}: did not converge: still to change after applying: {shown or 'unknown'}")
    return lines


def cmd_apply(args: argparse.Namespace) -> int:
    from remediator import externalids, planfile, runner

    runs = planfile.load(args.plan, for_apply=True).runs  # checked whole: no call before it is
    resolve = externalids.resolver([run.account for run in runs], _inventory_accounts(args), args.plan)
    for run in runs:
        run.account = resolve(run.account)
    waivers = _waivers(args)
    options = _options(args)
    check_output_paths(args, journal=True)
    live = LiveOutput(stream_text=_stdout_is_text(args))
    live.before_render = _judge_account(waivers, args.fail_on)
    try:
        report = runner.apply_plan(runs, options, events=live)
    finally:
        live.close()
    report.plan_file = args.plan
    _judge(report, args, waivers)
    return emit(report, args, live)


def cmd_merge(args: argparse.Namespace) -> int:
    from remediator import merge

    waivers = _waivers(args)
    check_output_paths(args)
    report = merge.merge(args.results, args.expect_shards)
    _judge(report, args, waivers, partial=report.partial)
    if report.partial and args.format == "sarif":
        # SARIF of part of a run would close, in code scanning, the alerts of every account left out.
        for line in error_lines(report):
            print(f"error: {line}", file=sys.stderr)
        print("error: the merge is partial: no SARIF is written", file=sys.stderr)
        return report.exit_code
    return emit(report, args)


def cmd_show(args: argparse.Namespace) -> int:
    """A saved plan for review, like `terraform show`: exit 0 whatever it holds; a bad file is bad input."""
    from remediator.report.show import show

    waivers = _waivers(args) or None
    sys.stdout.write(show(args.plan, args.format, waivers=waivers, fail_on=args.fail_on))
    return 0


def cmd_inventory_from_org(args: argparse.Namespace) -> int:
    from remediator import orgs
    from remediator.aws.session import AccountSession
    from remediator.loader.inventory import check_connection
    from remediator.model import Account

    settings = {k: v for k, v in (("endpoint_url", args.endpoint_url), ("region", args.region)) if v}
    check_connection("organization", settings, "command line", None)
    account = Account("organization", region=args.region, profile=args.profile, endpoint_url=args.endpoint_url)
    client = AccountSession(account, read_only=True).client("organizations")
    root = orgs.read_organization(client)
    unit = orgs.find_unit(root, args.ou) if args.ou else root
    sys.stdout.write(orgs.render_inventory(unit, args.role_name, root.management_account))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    playbook, _inventory, prepared = load_run_inputs(args)
    for warning in prepared.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    tasks = sum(len(p.tasks) for p in playbook.plays)
    rendered = sum(len(v) for v in prepared.task_plans.values())
    print(
        f"ok: {playbook.path}: {len(playbook.plays)} play(s), {tasks} task(s);"
        f" {rendered} rendered for {len(prepared.accounts)} account(s)"
    )
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from remediator.rollback import rollback

    outcome = rollback(args.journal, check=args.check, inventory_accounts=_inventory_accounts(args))
    for line in outcome.messages:
        print(line.text)
    sys.stdout.flush()
    for line in outcome.errors:  # the problems again, where errors go
        print(f"error: {line}", file=sys.stderr)
    return outcome.exit_code


SECRETS_FROM_INVENTORY = (
    "the inventory the run used: external ids, which plan files and journals do not keep, are taken from it"
)


def _inventory_accounts(args: argparse.Namespace) -> Callable[[], list[Account]] | None:
    """The inventory's accounts, rendered, when -i was given (read only if a file refers to it)."""
    if not args.inventory:
        return None

    def accounts() -> list[Account]:
        from remediator.loader.inventory import load_inventory
        from remediator.prepare import resolve_accounts
        from remediator.templating import Renderer, template_dirs

        inventory = load_inventory(args.inventory)
        return resolve_accounts(inventory, {}, None, Renderer(template_dirs(args.inventory)))

    return accounts


def cmd_doc(args: argparse.Namespace) -> int:
    from remediator import registry
    from remediator.docs import module_doc, module_list

    if args.module and not registry.has(args.module):
        raise ConfigError(f"no module named {args.module!r} (modules: {', '.join(registry.names())})")
    print(module_doc(args.module) if args.module else module_list())
    return 0


def cmd_permissions(args: argparse.Namespace) -> int:
    from remediator.docs import permissions_policy
    from remediator.loader.playbook import load_playbook

    playbook = load_playbook(args.playbook)
    tasks = [(task.module, task.args) for play in playbook.plays for task in play.tasks]
    print(json.dumps(permissions_policy(tasks, check=args.check), indent=2))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from remediator.loader.schema import playbook_schema

    print(json.dumps(playbook_schema(), indent=2))
    return 0


def cmd_activity(args: argparse.Namespace) -> int:
    from remediator.events.activity import Window, activity, choose_source
    from remediator.events.render import render as render_activity
    from remediator.loader.extra_vars import parse_extra_vars
    from remediator.loader.inventory import implicit_inventory, load_inventory
    from remediator.prepare import resolve_accounts
    from remediator.templating import Renderer, template_dirs

    inventory = load_inventory(args.inventory) if args.inventory else implicit_inventory()
    renderer = Renderer(template_dirs(args.inventory or "."))
    accounts = resolve_accounts(inventory, parse_extra_vars(args.extra_vars), args.limit, renderer)
    window = Window.parse(args.since, args.until)
    source = choose_source(args.source, window)
    check_output_paths(args)
    embedded = EmbeddedEmulators()
    try:
        # Progress goes to a terminal only: in CI and pipes stderr carries errors alone.
        progress = _progress_line if sys.stderr.isatty() else None
        results = activity(embedded.resolve(accounts), window, source, args.principal, args.forks, progress)
    finally:
        embedded.stop()
    unwritten = ""
    if args.report:
        try:
            Path(args.report).write_text(render_activity(results, args.format), encoding="utf-8")
        except OSError as exc:
            unwritten = f"--report {args.report}: cannot write: {exc.strerror or exc}"
        sys.stdout.write(render_activity(results, "text"))
    else:
        sys.stdout.write(render_activity(results, args.format))
    for result in results:
        if result.error:
            print(f"error: account {result.account.name!r}: {result.error}", file=sys.stderr)
    if unwritten:
        print(f"error: {unwritten}", file=sys.stderr)
    return EXIT_ERROR if unwritten or any(r.error for r in results) else 0


def _progress_line(message: str) -> None:
    print(f"… {message}", file=sys.stderr, flush=True)


def cmd_sandbox(args: argparse.Namespace) -> int:
    import threading

    from remediator.sandbox import demo
    from remediator.sandbox.server import Emulator

    emulator = Emulator(args.port)
    try:
        demo.seed(emulator.url)
        print(f"emulator with the demo account at {emulator.url} (Ctrl-C to stop)", flush=True)
        print("inventory for it:", flush=True)
        print(f'  all:\n    accounts:\n      demo: {{endpoint_url: "{emulator.url}"}}', flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        emulator.stop()
    return 0
