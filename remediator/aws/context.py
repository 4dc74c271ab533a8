"""What a module's read() gets: read-only clients and a per-account cache of bulk reads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from remediator.model import Account

if TYPE_CHECKING:  # at run time a session is passed in: importing it here would import boto3 for `validate`
    from remediator.aws.session import AccountSession, Client

T = TypeVar("T")


class ReadContext:
    """Reads for one account. Bulk reads are cached for the life of the context (one run phase)."""

    def __init__(self, session: AccountSession) -> None:
        if not session.read_only:
            raise ValueError("modules read through read-only sessions only")
        self.session = session
        self._facts: dict[str, Any] = {}
        # Entities earlier tasks of this plan create: later tasks may attach to them (see Change.creates).
        self.planned: set[str] = set()
        self._lock = threading.RLock()

    @property
    def account(self) -> Account:
        return self.session.account

    def client(self, service: str, region: str | None = None) -> Client:
        return self.session.client(service, region)

    def will_exist(self, kind: str, name: str) -> bool:
        """True when an earlier task of this plan creates that entity (kind: role, user, group)."""
        return f"{kind}:{name}" in self.planned

    def planned_policies(self) -> dict[str, str]:
        """Customer managed policies earlier tasks create: name → ARN."""
        arns = [key.partition(":")[2] for key in self.planned if key.startswith("policy:")]
        return {arn.rsplit("/", 1)[-1]: arn for arn in arns}

    def settled_fact(self, name: str, load: Callable[[ReadContext], T]) -> T:
        """A read that no change of this run can alter (past CloudTrail events), cached on the session, so
        every phase and task that reads through it (the applier re-reads each task) shares one read."""
        cache = self.session.settled
        with self._lock:
            if name not in cache:
                cache[name] = load(self)
            return cache[name]

    def fact(self, name: str, load: Callable[[ReadContext], T]) -> T:
        """A named bulk read, done at most once per context."""
        with self._lock:
            if name not in self._facts:
                self._facts[name] = load(self)
            return self._facts[name]
