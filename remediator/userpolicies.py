"""One rule, one owner: "users get permissions through groups, not policies of their own" (CIS v3.0
1.15 / v5.0 1.14).

`iam_policies` (`forbid_user_attachments`) and `iam_users` (`forbid_user_policies`) both report it, from
this one judgement, so the two can never disagree. remediator's own deny-all quarantine policy grants
nothing and is not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from remediator import controls
from remediator.keys import QUARANTINE_POLICY
from remediator.model import Finding

CONTROLS = controls.of("user_policies")


def own_policies(
    managed_arns: Iterable[str], inline_names: Iterable[str], wanted: Callable[[str], bool] = lambda _: True
) -> list[str]:
    """The policies a user holds of its own, as 'managed NAME' and 'inline NAME', sorted."""
    names = [f"managed {arn.rsplit('/', 1)[-1]}" for arn in managed_arns]
    names += [f"inline {name}" for name in inline_names if name != QUARANTINE_POLICY]
    return sorted(n for n in names if wanted(n.split(" ", 1)[1]))


def finding(address: str, resource: str, user_name: str, policies: list[str]) -> Finding | None:
    """The finding for a user holding `policies` of its own, or None when it holds none."""
    if not policies:
        return None
    return Finding(
        address,
        resource,
        "medium",
        f"user {user_name} has policies attached directly, not through a group: {', '.join(policies)}",
        CONTROLS,
    )
