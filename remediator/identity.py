"""Who the run itself is: the user or role it signs as, and the access key it signs with.

Guards keep every module away from these: a run never deactivates, deletes or quarantines the
credentials it is using.
"""

from __future__ import annotations

from dataclasses import dataclass

from remediator.aws.context import ReadContext


@dataclass(frozen=True)
class RunIdentity:
    arn: str
    user_name: str | None  # set when the run signs as an IAM user
    role_name: str | None  # set when the run signs as an assumed role
    access_key_id: str | None
    base_access_key_id: str | None = None  # the long-term key that assumed the role, when there is one

    @property
    def key_ids(self) -> frozenset[str]:
        """Every access key the run depends on: the signing key and the key that assumed the role."""
        return frozenset(k for k in (self.access_key_id, self.base_access_key_id) if k)

    def reason(self) -> str:
        who = f"user {self.user_name}" if self.user_name else f"role {self.role_name}" if self.role_name else self.arn
        return f"the run's own credentials ({who}) are never changed"


def run_identity(ctx: ReadContext) -> RunIdentity:
    """GetCallerIdentity plus the signing key; one call per account per phase."""

    def load(ctx: ReadContext) -> RunIdentity:
        arn = str(ctx.session.identity().get("Arn", ""))
        resource = arn.split(":", 5)[-1] if arn.count(":") >= 5 else ""
        kind, _, rest = resource.partition("/")
        user = rest.rsplit("/", 1)[-1] if kind == "user" else None
        role = rest.split("/", 1)[0] if kind == "assumed-role" else None
        return RunIdentity(arn, user, role, ctx.session.access_key_id(), ctx.session.base_access_key_id)

    return ctx.fact("run_identity", load)
