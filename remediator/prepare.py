"""Everything before the first AWS call: select accounts, merge vars, evaluate when/loop, render and
validate every task for every account. Any bad input stops the run here, having called nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from remediator import memberships, policylint, registry
from remediator.errors import ArgError, ConfigError, short
from remediator.loader.inventory import CONNECTION_KEYS, Inventory, check_connection
from remediator.loader.schema import check_args, coerce_environment, module_schema
from remediator.model import Account, Play, Playbook, Task, TaskPlan
from remediator.templating import EnvValue, Renderer, TemplateError, is_template, plain_text


@dataclass
class Selection:
    limit: str | None = None
    tags: list[str] = field(default_factory=list)
    skip_tags: list[str] = field(default_factory=list)


@dataclass
class Prepared:
    """The run, fully rendered: accounts in order, and the task plans (still empty) for each."""

    accounts: list[Account]
    task_plans: dict[str, list[TaskPlan]]
    warnings: list[str] = field(default_factory=list)


def prepare(
    playbook: Playbook,
    inventory: Inventory,
    extra_vars: dict[str, Any],
    selection: Selection,
    renderer: Renderer,
) -> Prepared:
    limited = _limited(inventory, selection.limit)
    _check_tags(playbook, selection)
    accounts: dict[str, Account] = {}
    plans: dict[str, list[TaskPlan]] = {}
    warnings: list[str] = []
    for play in playbook.plays:
        names = inventory.select(play.pattern, source=f"{play.location} accounts")
        if limited is not None:
            names = [n for n in names if n in limited]
        if not names:
            warnings.append(f"{play.location}: play {play.name!r} matches no account; skipped")
            continue
        if not play.tasks:
            warnings.append(f"{play.location}: play {play.name!r} has no tasks (tasks: []); nothing to do")
        for name in names:
            if name not in accounts:
                accounts[name] = _resolve_account(inventory, name, extra_vars, renderer)
            account = accounts[name]
            variables = {**account.vars, **play.vars, **extra_vars, **_magic(account)}
            for task in play.tasks:
                if not _selected(task, selection):
                    continue
                plans.setdefault(name, []).extend(_prepare_task(play, task, account, variables, renderer, warnings))
    _check_distinct_accounts(inventory, list(accounts.values()))
    _check_memberships(plans)
    return Prepared(list(accounts.values()), plans, warnings)


def _check_memberships(plans: dict[str, list[TaskPlan]]) -> None:
    """Two tasks that would each undo the other's membership every run are a playbook error, found before
    any call (the account could never converge)."""
    for name, account_plans in plans.items():
        found = memberships.conflicts(account_plans)
        if found:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            raise ConfigError(f"account {name!r}: {found[0]}{more}")


def _check_tags(playbook: Playbook, selection: Selection) -> None:
    """A --tags value no task carries is a typo, not a compliant run: name it before any call."""
    if not selection.tags:
        return
    known = {tag for play in playbook.plays for task in play.tasks for tag in task.tags}
    unknown = [tag for tag in selection.tags if tag not in known]
    if len(unknown) == len(selection.tags):
        listed = ", ".join(sorted(known)) or "none"
        raise ConfigError(
            f"--tags {','.join(selection.tags)!r} matches no task (tags in the playbook: {listed})",
            file=playbook.path,
        )


def _check_distinct_accounts(inventory: Inventory, accounts: list[Account]) -> None:
    """Two inventory names for one account id would apply every change twice, racing each other."""
    seen: dict[str, str] = {}
    for account in accounts:
        if not account.account_id:
            continue
        first = seen.setdefault(account.account_id, account.name)
        if first != account.name:
            entry = inventory.accounts[account.name]
            raise ConfigError(
                f"accounts {first!r} and {account.name!r} have the same account_id {account.account_id}:"
                " each change would be applied twice; keep one name per account",
                file=entry.file,
                line=entry.key_lines.get("account_id", entry.line),
                account=account.name,
                field="account_id",
            )


def _limited(inventory: Inventory, limit: str | None) -> list[str] | None:
    """The account names --limit selects (None without --limit); matching nothing is an error, and so is
    an empty --limit (it would otherwise select every account)."""
    if limit is None:
        return None
    if not limit.strip():
        raise ConfigError("--limit is empty: give account names, groups or patterns (a, group, 'prod-*', '!x')")
    limited = inventory.select(limit)
    if not limited:
        if inventory.path is None:
            raise ConfigError(
                f"--limit {limit!r} matches no account: without an inventory (-i) the only account"
                " is 'default', the current credentials' one"
            )
        raise ConfigError(
            f"--limit {limit!r} matches no account in the inventory (accounts: "
            f"{_some(inventory.accounts)}; groups: {_some(inventory.groups)})",
            file=inventory.path,
        )
    return limited


def resolve_accounts(
    inventory: Inventory, extra_vars: dict[str, Any], limit: str | None, renderer: Renderer
) -> list[Account]:
    """The inventory's accounts (those --limit selects), connection settings rendered and checked: for
    commands that reach accounts without a playbook (`activity`)."""
    limited = _limited(inventory, limit)
    names = list(inventory.accounts) if limited is None else limited
    accounts = [_resolve_account(inventory, name, extra_vars, renderer) for name in names]
    _check_distinct_accounts(inventory, accounts)
    return accounts


def _some(names: Any, most: int = 8) -> str:
    names = list(names)
    return ", ".join(names[:most]) + (f", … ({len(names)} in all)" if len(names) > most else "")


def _magic(account: Account) -> dict[str, Any]:
    return {
        "account_name": account.name,
        "account_id": account.account_id,
        "account_region": account.region,
        "account_groups": list(account.groups),
    }


def _selected(task: Task, selection: Selection) -> bool:
    tags = set(task.tags)
    if selection.skip_tags and tags & set(selection.skip_tags):
        return False
    if selection.tags:
        return bool(tags & set(selection.tags)) or "always" in tags
    return "never" not in tags


def _resolve_account(inventory: Inventory, name: str, extra_vars: dict[str, Any], renderer: Renderer) -> Account:
    entry = inventory.accounts[name]
    variables = {**inventory.variables(name), **extra_vars}
    settings: dict[str, Any] = {}
    for key in CONNECTION_KEYS:
        value = entry.settings.get(key, variables.get(key) if key == "region" else None)
        if value is None:
            continue
        try:
            value = renderer.render(value, variables)
        except TemplateError as exc:
            line = entry.key_lines.get(key, entry.line)
            raise ConfigError(renderer.redact(str(exc)), file=entry.file, line=line, account=name, field=key)
        settings[key] = None if value in ("", None) else str(value)
    # What templates gave is checked as what was written was when the inventory loaded.
    try:
        check_connection(
            name, {k: v for k, v in settings.items() if v is not None}, entry.file, entry.line, entry.key_lines
        )
    except ConfigError as exc:
        exc.message = renderer.redact(exc.message)  # a setting may hold what lookup_env read
        raise
    return Account(
        name=name,
        groups=tuple(entry.groups),
        vars=variables,
        **{k: v for k, v in settings.items() if v is not None},
    )


def _prepare_task(
    play: Play, task: Task, account: Account, variables: dict[str, Any], renderer: Renderer, warnings: list[str]
) -> list[TaskPlan]:
    def fail(message: str, option: str | None = None, line: int | None = None) -> ConfigError:
        top = option.split(".")[0] if option else None
        return ConfigError(
            renderer.redact(message),
            file=task.location.file,
            line=line or (task.arg_lines.get(top) if top else None) or task.location.line,
            task=task.name,
            field=option,
            account=account.name,
        )

    items: list[Any] = [None]
    if task.loop is not None:
        try:
            loop = coerce_environment(renderer.render(task.loop, variables), {"type": "array"})
        except TemplateError as exc:
            raise fail(f"loop: {exc}", line=task.key_lines.get("loop"))
        if not isinstance(loop, list):
            shown = _shown(loop)
            raise fail(f"loop must give a list, got {type(loop).__name__} {shown}", line=task.key_lines.get("loop"))
        items = loop
    plans: list[TaskPlan] = []
    for item in items:
        scope = variables
        data = {"item": item} if task.loop is not None else None  # rendered already: never again
        try:
            name = str(renderer.render(task.name, scope, data))
        except TemplateError as exc:
            raise fail(f"name: {exc}", line=task.key_lines.get("name"))
        plan = TaskPlan(account=account.name, task=name, module=task.module, location=str(task.location))
        if not _when(task, scope, data, renderer, fail):
            plan.skipped = f"when: {task.when} is false"
            plans.append(plan)
            continue
        try:
            args = renderer.render(task.args, scope, data)
        except TemplateError as exc:
            option = _first_template_option(task.args, renderer, scope, data)
            raise fail(str(exc), option)
        args = coerce_environment(args, module_schema(task.module))
        for option, message in check_args(task.module, args, rendered=True):
            raise fail(message, option)
        args = plain_text(args)
        module = registry.get(task.module)
        try:
            module.validate(args)
        except ArgError as exc:
            raise fail(exc.message, exc.field)
        for document in module.documents(args):
            for issue in policylint.lint(document.document, document.kind, document.limit):
                message = f"lint {issue.code}: {issue.message}"
                if issue.severity == "error" or task.lint == "error":
                    raise fail(message, document.option)
                where = fail("", document.option)  # the same file:line an error would name
                warning = renderer.redact(
                    f"{where.file}:{where.line}: task {short(task.name)}: option {short(document.option)}: {message}"
                )
                if warning not in warnings:
                    warnings.append(warning)
        plan.args = args
        plan.max_changes = _max_changes(task, scope, data, renderer, fail)
        if plan.max_changes is None:
            plan.max_changes = module.default_max_changes(args)
        plans.append(plan)
    return plans


def _shown(value: Any) -> str:
    """value as an error may quote it: cut short, and never what was read from the environment."""
    return "(a value from the environment)" if isinstance(value, EnvValue) else short(value)


def _when(task: Task, scope: dict[str, Any], data: dict[str, Any] | None, renderer: Renderer, fail: Any) -> bool:
    if task.when is None:
        return True
    conditions = task.when if isinstance(task.when, list) else [task.when]
    for condition in conditions:
        if isinstance(condition, bool):
            value = condition
        else:
            text = str(condition).strip()
            if text.startswith("{{") and text.endswith("}}"):
                text = text[2:-2]
            try:
                value = renderer.evaluate(text, scope, data)
            except TemplateError as exc:
                raise fail(f"when: {exc}", line=task.key_lines.get("when"))
        if not value:
            return False
    return True


def _max_changes(
    task: Task, scope: dict[str, Any], data: dict[str, Any] | None, renderer: Renderer, fail: Any
) -> int | None:
    value = task.max_changes
    if value is None:
        return None
    if is_template(value):
        try:
            value = coerce_environment(renderer.render(value, scope, data), {"type": "integer"})
        except TemplateError as exc:
            raise fail(f"max_changes: {exc}", line=task.key_lines.get("max_changes"))
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise fail(
            f"max_changes must be a whole number, 0 or more, got {_shown(value)}",
            line=task.key_lines.get("max_changes"),
        )
    return value


def _first_template_option(
    args: dict[str, Any], renderer: Renderer, scope: dict[str, Any], data: dict[str, Any] | None
) -> str | None:
    """Which option failed to render, so the error can name it and its line."""
    for key, value in args.items():
        try:
            renderer.render(value, scope, data)
        except TemplateError:
            return str(key)
    return None
