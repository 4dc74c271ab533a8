"""AWS's rules for what every entity module (`iam_role`, `iam_group`, `iam_user`) says about the entity
itself: its name, its path, and that `state: absent` stands alone.

Checked in `validate`, before any call, because the emulator enforces none of them; each module checks
its other options after these, so a task with several faults is told the same first one by every module.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from remediator import awsrules
from remediator.errors import ArgError


def check_entity(args: dict[str, Any], kind: str, absent_takes: Collection[str] = ("name", "state", "path")) -> None:
    """`state: absent` takes no options but `absent_takes` (a deletion sets nothing: a field beside it
    is a mistake to report, not to ignore); the `kind` ("role", "group", "user") name and the path must be
    ones AWS accepts."""
    if args.get("state") == "absent":
        others = sorted(k for k in args if k not in absent_takes)
        if others:
            raise ArgError(others[0], f"state: absent deletes the {kind} and takes no other {kind} fields")
    problem = awsrules.check_name(kind, args.get("name"))
    if problem:
        raise ArgError("name", problem)
    if "path" in args:
        problem = awsrules.check_path(args["path"])
        if problem:
            raise ArgError("path", problem)
