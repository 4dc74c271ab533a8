"""Everything a module needs, in one import, and the contract it follows.

A module is one file under `remediator/modules/`, one class registered by name:

    from remediator.toolkit import (
        ApiCall, ArgError, ChangeBuilder, Module, PlanResult, ReadContext, TaskFailed, register,
    )

    @register
    class Example(Module):
        name = "example"                  # the playbook key
        summary = "One line for `remediator doc`."
        args_schema = {"properties": {...}, "required": [...]}   # additionalProperties: false is added
        permissions = {"read": ["iam:Get..."], "write": ["iam:Update..."]}
        example = "- name: ...\n  example: {...}\n"

        def validate(self, args): ...     # AWS's bounds the schema cannot say; raise ArgError(option, msg)
        def read(self, ctx, args): ...    # the only I/O: read-only clients and shared bulk reads
        def plan(self, args, current, scope): ...   # pure: PlanResult(changes, findings, noop_reason)
        def resource_state(self, current, resource): ...  # live fields of one resource, for staleness

The engine does the rest, the same for every module (`runner.py`): it renders and validates every task
for every account before the first call, reaches each account once, calls `read` then `plan` with
read-only clients (check mode cannot write), judges the guards on the whole plan, journals each change,
re-reads the task and skips a change whose resource no longer matches its `before` (stale), runs the
change's `calls`, and re-plans to verify that nothing is left. There is no per-module apply.

What a module must get right:

- **Only what was compared is written.** A change's `before` holds exactly the live fields the task
  compared, `after` what they become, and its `calls` send those fields plus the resource's
  identifiers, never live values the change did not compare (an edit to another field between plan
  and apply must survive). `resource_state(current, resource)` returns the same fields from a fresh
  `read`; the applier compares `before`'s keys with it. `undo` restores `before`, or is None where AWS
  cannot (say so in the summary: "cannot be undone").
- **Addresses come from the builder**: `build = ChangeBuilder(scope, self.name)`, then
  `build.update(resource, before=..., after=..., calls=..., undo=..., summary=..., reason=...)`;
  findings with `build.finding(resource, severity, message, controls.of("rule"))`. Severity `INFO` is
  for notes on what is left alone by design (a service-linked role a sweep never touches): reported,
  never open, so it never makes the exit code 2.
- **A change that creates an entity** says so (`creates="role:NAME"`, `"policy:ARN"`): later tasks of
  the same run may refer to it (`ctx.will_exist`, `ctx.planned_policies`), and calls that name it wait
  out IAM's eventual consistency (NoSuchEntity is retried for two minutes) instead of failing.
- **Typed facts**: what `read` returns is built from frozen fact types (`facts.Fact`; `roles.Role` is
  the example), each with one reader. `load_current(data)` turns a plan case's JSON into the same
  types, so a case cannot hold a shape the reader never returns; `fact.to_json()` is the resource's
  live state and `fact.image("Field", ...)` a before-image of the same fields.
- **Read in bulk, once per account**: `authorization_details(ctx)`, `credential_report(ctx)`, or your
  own `ctx.fact("name", load)` (cached for the phase); every list call through `client.pages(...)`.
  AWS's rules the emulator does not enforce (names, paths, tags, sizes) are checked in `validate` with
  `awsrules`.
- **Time** comes from `timeutil.now()` (tests pin it) and is put in `current` by `read`, so `plan`
  stays pure; evidence dates use `timeutil.ago(moment, now)`.
- **Sweeps** (rules over every resource of a kind) take `**selection.options("what")` in their schema
  and `selection.picks(args, name, path)` to select; `action` defaults to report; the actions that
  disable or delete go in `destructive_actions` (they get max_changes 25 unless the task sets one);
  `write_permissions(args)` names only the writes the options can lead to (`literal()` reads an
  option that may still be a template), so `remediator permissions` stays least-privilege.
- **Regional resources**: set `global_service = False`. `scope` (and so every address) then carries
  the account's region (`<account>/<region>/<module>/<resource>`); read with
  `ctx.client(service, region)` and cache regional facts under a name that includes the region; give
  each write its region (`ApiCall(service, operation, params, region=...)`), which the applier and
  rollback send to that region's client. Without a region, calls go to the account's region.
- **Tests**: JSON plan cases in `tests/modules/<module>/` (args, current, expected changes; the runner
  re-plans the converged state and checks that every call is among `write_permissions(args)`), and the
  four-step test through the CLI against the emulator: check → apply → apply again with no write →
  check exits 0.
"""

from __future__ import annotations

from remediator import awsrules, controls, selection, timeutil
from remediator.aws.context import ReadContext
from remediator.aws.reads import authorization_details
from remediator.changes import ChangeBuilder
from remediator.errors import ArgError, AwsError, TaskFailed
from remediator.facts import Fact, key
from remediator.model import INFO, ApiCall, Change, Finding
from remediator.registry import Document, Module, PlanResult, literal, register

__all__ = [
    "ApiCall",
    "ArgError",
    "AwsError",
    "Change",
    "ChangeBuilder",
    "Document",
    "Finding",
    "INFO",
    "Module",
    "PlanResult",
    "ReadContext",
    "TaskFailed",
    "Fact",
    "authorization_details",
    "awsrules",
    "controls",
    "key",
    "literal",
    "register",
    "selection",
    "timeutil",
]
