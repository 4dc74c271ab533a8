"""Group memberships, planned from either side: a group's `members` (`iam_group`) or a user's `groups`
(`iam_user`).

A membership is one link, one change: `<group>/member/<user>` or `<user>/group/<group>`, created by
AddUserToGroup (undone by RemoveUserFromGroup) and, with the side's purge flag, deleted the other way
round. Names are compared as IAM does, without regard to case; each change names the other side as AWS
spells it. Both sides say the same thing about the same link ("add user alice to group ops"), so a plan
reads alike whichever module made it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from remediator.changes import ChangeBuilder
from remediator.iamnames import folded
from remediator.model import ApiCall, Change


@dataclass(frozen=True)
class Side:
    """Which end of the link the task's entity is, and how its options and changes name the other end."""

    option: str  # the task option that lists the other ends ("members")
    part: str  # the resource part of each change (`<name>/member/<user>`)
    key: str  # what a change's before/after holds ("UserName": the other end's name)
    other: str  # the other end's kind, for messages ("user")
    entity_is_group: bool

    @property
    def purge(self) -> str:
        return f"purge_{self.option}"

    def pair(self, entity: str, other: str) -> tuple[str, str]:
        """(group, user) of the link between the task's entity and `other`."""
        return (entity, other) if self.entity_is_group else (other, entity)


MEMBERS = Side(option="members", part="member", key="UserName", other="user", entity_is_group=True)  # iam_group
GROUPS = Side(option="groups", part="group", key="GroupName", other="group", entity_is_group=False)  # iam_user


def add_call(group: str, user: str) -> ApiCall:
    return ApiCall("iam", "add_user_to_group", {"GroupName": group, "UserName": user})


def remove_call(group: str, user: str) -> ApiCall:
    return ApiCall("iam", "remove_user_from_group", {"GroupName": group, "UserName": user})


def membership_changes(
    args: dict[str, Any],
    side: Side,
    entity: str,
    build: ChangeBuilder,
    wanted: list[str],
    live: Collection[str],
    created_earlier: Collection[str] = (),
) -> list[Change]:
    """Add each of `wanted` (the other ends, as AWS spells them) that `live` lacks; with the side's purge
    flag (and its list given), remove each of `live` not wanted. The reason of an add names the ends an
    earlier task of the run creates (`created_earlier`)."""
    changes = []
    present = folded(live)
    for other in wanted:
        if other.casefold() in present:
            continue
        group, user = side.pair(entity, other)
        later = f" (an earlier task creates the {side.other})" if other in created_earlier else ""
        changes.append(
            build.create(
                f"{entity}/{side.part}/{other}",
                after={side.key: other},
                calls=(add_call(group, user),),
                undo=(remove_call(group, user),),
                summary=f"add user {user} to group {group}",
                reason=f"the task lists it{later}",
            )
        )
    if args.get(side.purge) and side.option in args:
        listed = folded(wanted)
        for other in sorted(o for o in live if o.casefold() not in listed):
            group, user = side.pair(entity, other)
            changes.append(
                build.delete(
                    f"{entity}/{side.part}/{other}",
                    before={side.key: other},
                    calls=(remove_call(group, user),),
                    undo=(add_call(group, user),),
                    summary=f"remove user {user} from group {group}",
                    reason=f"not listed, and {side.purge} is on",
                )
            )
    return changes


SIDES = {"iam_group": MEMBERS, "iam_user": GROUPS}


@dataclass(frozen=True)
class Claim:
    """What one task says about memberships: the links it wants, and whether it removes the others of its
    entity (with its purge flag)."""

    plan: Any  # the TaskPlan
    side: Side
    entity: str
    wanted: frozenset[str]  # the other ends, folded
    purges: bool

    def link(self, other: str) -> tuple[str, str]:
        return self.side.pair(self.entity.casefold(), other)


def _claims(plans: list[Any]) -> list[Claim]:
    claims = []
    for plan in plans:
        side = SIDES.get(plan.module)
        args = plan.args
        if side is None or plan.skipped or args.get("state", "present") != "present" or side.option not in args:
            continue
        wanted = frozenset(folded(str(n) for n in args.get(side.option) or []))
        claims.append(Claim(plan, side, str(args.get("name", "")), wanted, bool(args.get(side.purge))))
    return claims


def conflicts(plans: list[Any]) -> list[str]:
    """Pairs of tasks of one account that fight over one membership: an `iam_group` that purges its members
    and an `iam_user` that lists the group (or a user that purges its groups and a group that lists the
    user). Each run would remove the link and add it back, so the account could never converge; the
    messages name both tasks (for a bad-input error before any AWS call)."""
    claims = _claims(plans)
    found = []
    for purger in (c for c in claims if c.purges):
        for other in claims:
            if other.side is purger.side:
                continue
            # `other` wants a link to purger's entity that purger's list does not keep
            if purger.entity.casefold() in other.wanted and other.entity.casefold() not in purger.wanted:
                group, user = purger.link(other.entity.casefold())
                found.append(
                    f"task {other.plan.task!r} ({other.plan.location}) puts user {_spelled(user, purger, other)} in"
                    f" group {_spelled(group, purger, other)}, and task {purger.plan.task!r} ({purger.plan.location})"
                    f" removes it with {purger.side.purge}: each run would undo the other; list the"
                    f" {purger.side.other} in {purger.side.option} or drop it from {other.side.option}"
                )
    return found


def _spelled(folded_name: str, *claims: Claim) -> str:
    """A folded name as one of the tasks spells it."""
    for claim in claims:
        if claim.entity.casefold() == folded_name:
            return repr(claim.entity)
        for name in claim.plan.args.get(claim.side.option) or []:
            if str(name).casefold() == folded_name:
                return repr(str(name))
    return repr(folded_name)
