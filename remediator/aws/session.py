"""One boto3 session per account, and the clients made from it.

Clients come in two kinds: read-only ones (planning, check mode) carry a firewall that refuses any
mutating operation before it is sent; writable ones are held only by the applier and rollback.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.config
import botocore.session

from remediator import __version__
from remediator.aws import retry
from remediator.aws.retry import RetryPolicy, call_with_retry
from remediator.errors import AwsError, CheckModeViolation, RemediatorError
from remediator.model import Account

READ_PREFIXES = ("Get", "List", "Describe", "Generate", "Lookup", "Simulate", "Head", "Search")

# Observers of every API call, in-process: (account name, service, OperationName, params, read_only).
# The benchmark and the tests count calls with it; nothing in the product depends on it.
CALL_OBSERVERS: list[Callable[[str, str, str, dict[str, Any], bool], None]] = []
# Functions run on each new botocore client: tests register `before-send` handlers here to inject the
# responses AWS gives where the emulator differs.
CLIENT_HOOKS: list[Callable[[Any], None]] = []

REACH_TIMEOUT = 10.0  # seconds a try at reaching an account may take: two tries stay well within a minute
OPEN_POLICY = RetryPolicy(attempts=3, base_delay=1.0, max_delay=5.0, total_seconds=20.0)
_EMULATOR_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def is_loopback(endpoint_url: str | None) -> bool:
    """An endpoint on this machine: the sandbox or a test emulator, never AWS (nor a VPC or FIPS endpoint).

    Only these get the emulator's placeholder credentials when none are configured.
    """
    if not endpoint_url:
        return False
    host = (urllib.parse.urlsplit(endpoint_url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def is_mutating(operation_name: str) -> bool:
    return not operation_name.startswith(READ_PREFIXES)


class Client:
    """A botocore client whose calls go through the one retry policy."""

    def __init__(self, raw: Any, policy: RetryPolicy) -> None:
        self.raw = raw
        self.policy = policy

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        method = getattr(self.raw, operation, None)
        if method is None:
            raise RemediatorError(f"unknown {self.raw.meta.service_model.service_name} operation {operation!r}")
        return call_with_retry(lambda: method(**params), operation, self.policy)

    def call_counting_retries(self, operation: str, on_retry: Callable[[str], None], **params: Any) -> dict[str, Any]:
        """`call`, telling `on_retry` the error code of each retry (throttled look-ups in a coverage report)."""
        method = getattr(self.raw, operation)
        return call_with_retry(lambda: method(**params), operation, self.policy, on_retry=on_retry)

    def call_propagating(self, operation: str, codes: frozenset[str], **params: Any) -> dict[str, Any]:
        """A call that may reach AWS before an earlier write of the run has propagated: the error `codes`
        that mean so (NoSuchEntity right after a create) are retried for as long as AWS takes."""
        method = getattr(self.raw, operation)
        return call_with_retry(lambda: method(**params), operation, retry.PROPAGATION_POLICY, also=codes)

    def pages(self, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every page of a paginated operation, each page fetched (and retried) on its own."""
        config = self._pagination(operation)
        input_tokens = _as_list(config["input_token"])
        output_tokens = _as_list(config["output_token"])
        more_key = config.get("more_results")
        while True:
            page = self.call(operation, **params)
            yield page
            tokens = [_lookup(page, key) for key in output_tokens]
            if more_key is not None and not _lookup(page, more_key):
                return
            if not any(tokens):
                return
            params = {**params, **dict(zip(input_tokens, tokens, strict=True))}

    def _pagination(self, operation: str) -> dict[str, Any]:
        """botocore's paginator settings; IAM lists it has none for (ListServiceSpecificCredentials) still
        page with Marker / IsTruncated, as their model says."""
        if self.raw.can_paginate(operation):
            return dict(self.raw.get_paginator(operation)._pagination_cfg)
        model = self.raw.meta.service_model.operation_model(self.raw.meta.method_to_api_mapping[operation])
        outputs = model.output_shape.members if model.output_shape else {}
        if "Marker" in model.input_shape.members and "IsTruncated" in outputs:
            return {"input_token": "Marker", "output_token": "Marker", "more_results": "IsTruncated"}
        raise RemediatorError(f"{operation} is not a paginated operation")

    def __getattr__(self, operation: str) -> Callable[..., dict[str, Any]]:
        if operation.startswith("_"):
            raise AttributeError(operation)
        return lambda **params: self.call(operation, **params)


def _as_list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def _lookup(page: dict[str, Any], key: str) -> Any:
    node: Any = page
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


class AccountSession:
    """Credentials and clients for one account; read_only sessions cannot write."""

    def __init__(
        self,
        account: Account,
        *,
        read_only: bool,
        policy: RetryPolicy | None = None,
        boto_session: boto3.Session | None = None,
    ) -> None:
        self.account = account
        self.read_only = read_only
        self.policy = policy or retry.DEFAULT_POLICY
        self._boto = boto_session
        self._clients: dict[tuple[str, str], Client] = {}
        self._lock = threading.Lock()
        self._session_lock = threading.Lock()
        self._identity: dict[str, Any] | None = None
        self.base_access_key_id: str | None = None  # the key that assumed role_arn, if any
        self.settled: dict[str, Any] = {}  # reads no change can alter, shared by every ReadContext on this session

    def client(self, service: str, region: str | None = None) -> Client:
        region = region or self.account.region
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = Client(self._make_client(service, region), self.policy)
            return self._clients[key]

    def reader(self) -> AccountSession:
        """A read-only session on the same credentials (no second AssumeRole)."""
        if self.read_only:
            return self
        reader = AccountSession(self.account, read_only=True, policy=self.policy, boto_session=self._session())
        reader.base_access_key_id = self.base_access_key_id
        reader.settled = self.settled  # one session's readers share what no change can alter
        return reader

    def identity(self, policy: RetryPolicy | None = None) -> dict[str, Any]:
        """GetCallerIdentity, once; used to check we reached the account the inventory names. With a
        `policy` (reaching the account) it also answers within REACH_TIMEOUT a try: an endpoint that takes
        the connection and never answers must not hold the account for the usual minute a read may take."""
        if self._identity is None:
            raw = self.client("sts").raw
            if policy is not None:
                raw = self._raw_client(self._session(), "sts", self.account.region, firewall=self.read_only,
                                       read_timeout=REACH_TIMEOUT)  # fmt: skip
            self._identity = Client(raw, policy or self.policy).call("get_caller_identity")
        return self._identity

    def verify_account(self, policy: RetryPolicy | None = None) -> None:
        """One call that proves the credentials work and reach the account the inventory names."""
        identity = self.identity(policy)
        expected = self.account.account_id
        if expected and identity.get("Account") != expected:
            raise RemediatorError(
                f"the credentials reach account {identity.get('Account')}, not {expected} as the inventory says;"
                " nothing was read or changed"
            )

    def access_key_id(self) -> str | None:
        creds = self._session().get_credentials()
        return creds.access_key if creds else None

    def _session(self) -> boto3.Session:
        with self._session_lock:
            if self._boto is None:
                self._boto = self._open()
            return self._boto

    def _open(self) -> boto3.Session:
        account = self.account
        try:
            base = boto3.Session(profile_name=account.profile, region_name=account.region)
        except botocore.exceptions.ProfileNotFound:
            raise RemediatorError(f"AWS profile {account.profile!r} not found")
        if is_loopback(account.endpoint_url) and base.get_credentials() is None:
            base = boto3.Session(region_name=account.region, **_EMULATOR_CREDENTIALS)
        if not account.role_arn:
            return base
        base_credentials = base.get_credentials()
        self.base_access_key_id = base_credentials.access_key if base_credentials else None
        # Few retries: an account whose role cannot be assumed fails at once, not after minutes of backoff.
        sts = Client(self._raw_client(base, "sts", account.region, firewall=False), OPEN_POLICY)
        params: dict[str, Any] = {
            "RoleArn": account.role_arn,
            "RoleSessionName": account.session_name or f"remediator-{account.name}"[:64],
        }
        if account.external_id:
            params["ExternalId"] = account.external_id
        try:
            creds = sts.call("assume_role", **params)["Credentials"]
        except AwsError as exc:
            raise RemediatorError(f"cannot assume {account.role_arn}: {exc}")
        return boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=account.region,
        )

    def _make_client(self, service: str, region: str) -> Any:
        return self._raw_client(self._session(), service, region, firewall=self.read_only)

    def _raw_client(
        self, session: boto3.Session, service: str, region: str, *, firewall: bool, read_timeout: float = 60
    ) -> Any:
        config = botocore.config.Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            user_agent_extra=f"remediator/{__version__}",
            connect_timeout=min(10, read_timeout),
            read_timeout=read_timeout,
        )
        raw = session.client(service, region_name=region, endpoint_url=self.account.endpoint_url, config=config)
        name = self.account.name
        read_only = firewall

        def before_call(params: Any, model: Any, **_: Any) -> None:
            if read_only and is_mutating(model.name):
                raise CheckModeViolation(
                    f"refused {service}.{model.name}: this client is read-only (check mode or planning)"
                )
            for observer in CALL_OBSERVERS:
                observer(name, service, model.name, dict(params), read_only)

        raw.meta.events.register("before-parameter-build.*.*", before_call)
        for hook in CLIENT_HOOKS:
            hook(raw)
        return raw
