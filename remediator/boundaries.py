"""The permissions boundary of a role or user, as `iam_role` and `iam_user` manage it: the
`permissions_boundary` option, AWS's rule for it, and the call that sets or removes it.

A boundary is one policy ARN, or none: `""` in a task (and in a change's `before`/`after`) means none,
and the call is then Delete*PermissionsBoundary instead of Put*PermissionsBoundary, so the undo of
either is the same function applied to `before`.
"""

from __future__ import annotations

from typing import Any

from remediator import awsrules
from remediator.errors import ArgError
from remediator.iamnames import NAME_PARAMS
from remediator.model import ApiCall

OPTIONS: dict[str, Any] = {
    "permissions_boundary": {"type": "string", "description": 'a policy ARN; "" removes the boundary'},
}


def check(args: dict[str, Any]) -> None:
    """A boundary the task sets must be a policy ARN (a name is not enough: AWS wants the ARN)."""
    boundary = args.get("permissions_boundary")
    if boundary:
        problem = awsrules.check_policy_arn(boundary)
        if problem:
            raise ArgError("permissions_boundary", f"give the boundary policy's ARN: {problem}")


def boundary_call(kind: str, name: str, arn: str) -> ApiCall:
    """Set the boundary of the `kind` ("role", "user") called `name` to `arn`, or remove it when `arn` is ""."""
    param = NAME_PARAMS[kind]
    if arn:
        return ApiCall("iam", f"put_{kind}_permissions_boundary", {param: name, "PermissionsBoundary": arn})
    return ApiCall("iam", f"delete_{kind}_permissions_boundary", {param: name})
