"""The command line: a thin layer over loader → prepare → planner → applier → report."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from remediator import __version__, planfile, registry, runner
from remediator.errors import ConfigError, RemediatorError
from remediator.loader.extra_vars import parse_extra_vars
from remediator.loader.inventory import Inventory, implicit_inventory, load_inventory
from remediator.loader.playbook import load_playbook
from remediator.model import FAILED
from remediator.prepare import Prepared, Selection, prepare
from remediator.report import EXIT_ERROR, Report, render
from remediator.templating import Renderer, template_dirs

FORMATS = ("text", "json", "markdown", "junit", "sarif")
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
    run.add_argument("--forks", type=int, default=5, help="accounts planned and applied in parallel")
    run.add_argument("--plan-out", help="write the plan to this file (apply it later with `remediator apply`)")
    run.add_argument("--max-changes", type=int, help="refuse a run that would make more changes than this")
    _output_options(run)
    run.set_defaults(handler=cmd_run)

    apply = sub.add_parser(
        "apply", parents=[common], help="apply a saved plan exactly; changes no longer matching it are skipped"
    )
    apply.add_argument("plan")
    apply.add_argument("--forks", type=int, default=5)
    apply.add_argument("--max-changes", type=int, help="refuse a plan that would make more changes than this")
    _output_options(apply)
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


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def load_run_inputs(args: argparse.Namespace) -> tuple[Any, Inventory, Prepared]:
    """Everything before the first AWS call. Bad input raises here, having called nothing."""
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


def _options(args: argparse.Namespace) -> runner.Options:
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
    playbook, inventory, prepared = load_run_inputs(args)
    options = _options(args)
    embedded = EmbeddedEmulators()

    def save_plan(report: Report) -> None:
        report.playbook = playbook.path
        if not args.plan_out:
            return
        # an embedded emulator ends with this process: the plan says so, and `apply` refuses it clearly
        as_planned = {a.name: a for a in prepared.accounts}
        planfile.write(
            args.plan_out,
            [replace(run, account=as_planned[run.account.name]) for run in report.runs],
            playbook=playbook.path,
            playbook_digest=playbook.digest,
            inventory_digest=inventory.digest,
        )
        report.plan_file = args.plan_out

    try:
        accounts = embedded.resolve(prepared.accounts)
        report = runner.run_playbook(
            accounts, prepared.task_plans, options, warnings=prepared.warnings, before_apply=save_plan
        )
        return emit(report, args)
    finally:
        embedded.stop()


def emit(report: Report, args: argparse.Namespace) -> int:
    """Write the report (file first, then stdout) and every error to stderr."""
    if args.report:
        Path(args.report).write_text(render(report, args.format), encoding="utf-8")
        sys.stdout.write(render(report, "text"))
    else:
        sys.stdout.write(render(report, args.format))
    sys.stdout.flush()
    for line in error_lines(report):
        print(f"error: {line}", file=sys.stderr)
    return report.exit_code


def error_lines(report: Report) -> list[str]:
    """The run's errors, one line each: the run's, each account's, and each failed task's own."""
    lines = [report.error] if report.error else []
    for run in report.runs:
        name = run.account.name
        if run.error:
            lines.append(f"account {name!r}: {run.error}")
        for plan in run.task_plans:
            if plan.error and not run.error:
                lines.append(f"account {name!r}: {plan.location}: task {plan.task!r}: {plan.error}")
        for result in run.results:
            if result.status == FAILED:
                lines.append(f"account {name!r}: {result.address}: {result.message}")
    return lines


def cmd_apply(args: argparse.Namespace) -> int:
    runs = planfile.read(args.plan)
    if any(run.account.endpoint_url == "embedded" for run in runs):
        raise ConfigError(
            "the plan names the embedded emulator, which ended with the run that planned it", file=args.plan
        )
    report = runner.apply_plan(runs, _options(args))
    report.plan_file = args.plan
    return emit(report, args)


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

    outcome = rollback(args.journal, check=args.check)
    for line in outcome.lines:
        print(line)
    return outcome.exit_code


def cmd_doc(args: argparse.Namespace) -> int:
    from remediator.docs import module_doc, module_list

    if args.module and not registry.has(args.module):
        raise ConfigError(f"no module named {args.module!r} (modules: {', '.join(registry.names())})")
    print(module_doc(args.module) if args.module else module_list())
    return 0


def cmd_permissions(args: argparse.Namespace) -> int:
    from remediator.docs import permissions_policy

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
    from remediator.prepare import resolve_accounts

    inventory = load_inventory(args.inventory) if args.inventory else implicit_inventory()
    renderer = Renderer(template_dirs(args.inventory or "."))
    accounts = resolve_accounts(inventory, parse_extra_vars(args.extra_vars), args.limit, renderer)
    window = Window.parse(args.since, args.until)
    source = choose_source(args.source, window)
    embedded = EmbeddedEmulators()
    try:
        # Progress goes to a terminal only: in CI and pipes stderr carries errors alone.
        progress = _progress_line if sys.stderr.isatty() else None
        results = activity(embedded.resolve(accounts), window, source, args.principal, args.forks, progress)
    finally:
        embedded.stop()
    if args.report:
        Path(args.report).write_text(render_activity(results, args.format), encoding="utf-8")
        sys.stdout.write(render_activity(results, "text"))
    else:
        sys.stdout.write(render_activity(results, args.format))
    for result in results:
        if result.error:
            print(f"error: account {result.account.name!r}: {result.error}", file=sys.stderr)
    return EXIT_ERROR if any(r.error for r in results) else 0


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
