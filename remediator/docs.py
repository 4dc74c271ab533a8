"""`remediator doc` and `remediator permissions`, generated from what each module declares."""

from __future__ import annotations

from typing import Any

from remediator import admins, registry

BASE_READ = ["sts:GetCallerIdentity"]
# The last-administrator guard (guards.check_last_admins) reads these when a task can write one of ADMIN_WRITES.
GUARD_READ = ["iam:GetAccountAuthorizationDetails", "iam:GetLoginProfile"]
ADMIN_WRITES = frozenset("iam:" + "".join(word.capitalize() for word in call.split("_")) for call in admins.ADMIN_CALLS)


def module_list() -> str:
    width = max(len(n) for n in registry.names())
    lines = [f"{m.name:<{width}}  {m.summary}" for m in registry.each()]
    return "\n".join(lines) + "\n\nremediator doc MODULE shows one module's options and an example."


def _type(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " | ".join(map(str, schema["enum"]))
    kind = schema.get("type", "any")
    kind = " | ".join(kind) if isinstance(kind, list) else str(kind)
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        kind += f" ({low}–{high})"
    return kind


def module_doc(name: str) -> str:
    module = registry.get(name)
    props: dict[str, Any] = module.args_schema.get("properties", {})
    required = set(module.args_schema.get("required", []))
    width = max((len(k) for k in props), default=4)
    lines = [f"{name}: {module.summary}", "", "OPTIONS"]
    for key, schema in props.items():
        flag = " (required)" if key in required else ""
        desc = schema.get("description", "")
        lines.append(f"  {key:<{width}}  {_type(schema)}{flag}" + (f" — {desc}" if desc else ""))
    lines += ["", "PERMISSIONS"]
    lines.append("  read:  " + ", ".join(module.permissions.get("read", [])))
    lines.append("  write: " + ", ".join(module.permissions.get("write", [])))
    if module.example:
        lines += ["", "EXAMPLE", *("  " + line for line in module.example.rstrip().splitlines())]
    return "\n".join(lines)


def permissions_policy(tasks: list[tuple[str, dict[str, Any]]], *, check: bool) -> dict[str, Any]:
    """The least-privilege identity policy for running these tasks (module, args), in check mode or to
    apply: every read the modules make, and only the writes the tasks' options can lead to; actions a
    module can scope to the resources a task names (a trail, its bucket) get those ARNs, not "*"."""
    read = set(BASE_READ)
    write: set[str] = set()
    scoped: dict[str, set[str]] = {}
    anywhere: set[str] = set()
    for name, args in tasks:
        module = registry.get(name)
        reads = set(module.permissions.get("read", []))
        writes = set(module.write_permissions(args))
        read |= reads
        write |= writes
        if writes & ADMIN_WRITES:
            read |= set(GUARD_READ)
        resources = module.resources(args)
        for action in reads | writes:
            if action in resources:
                scoped.setdefault(action, set()).update(resources[action])
            else:
                anywhere.add(action)
    wanted = read | (set() if check else write)
    statements = []
    for sid, actions in (("RemediatorRead", read), ("RemediatorWrite", set() if check else write - read)):
        unscoped = sorted(a for a in actions if a in anywhere or a not in scoped)
        if unscoped:
            statements.append({"Sid": sid, "Effect": "Allow", "Action": unscoped, "Resource": "*"})
    groups: dict[tuple[str, ...], list[str]] = {}
    for action in sorted(a for a in wanted if a in scoped and a not in anywhere):
        groups.setdefault(tuple(sorted(scoped[action])), []).append(action)
    for number, (arns, actions) in enumerate(sorted(groups.items()), 1):
        statements.append(
            {"Sid": f"RemediatorScoped{number}", "Effect": "Allow", "Action": actions, "Resource": list(arns)}
        )
    return {"Version": "2012-10-17", "Statement": statements}
