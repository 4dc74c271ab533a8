"""One boto3 session per account, and the clients made from it.

Clients come in two kinds: read-only ones (planning, check mode) carry a firewall that refuses any
mutating operation before it is sent; writable ones are held only by the applier and rollback.

Many accounts at once (`--forks`): what every account of a run shares lives in a `Hub` (the base
session AssumeRole is called from, its STS client, and the STS budget), and what every session of the
process shares is botocore's data: its service models, endpoint rules and handlers are parsed once per
process (`botocore_session()`), not once per account. Parsing them was ~0.45 s of CPU per account under
the GIL, which is what kept threads from running accounts side by side.

Each account's calls take a token from the account's own bucket (`remediator.aws.ratelimit`), every
service and region of it: IAM throttles per account. Assumed-role credentials refresh themselves before
they expire (botocore's RefreshableCredentials, AssumeRole again through the hub); an `ExpiredToken`
anyway refreshes them, then a read is retried and a write is reported as `ExpiredCredentials` so the
runner plans that change again.

A write whose answer is lost (a 5xx, or a connection dropped after the request went out) may have been
applied. Each write of a writable client says how that is settled (`lostanswer`, `retry.LostAnswer`): a
create that a repeat answers EntityAlreadyExists is read back and taken as done when the entity is the one it
asked for; CreatePolicyVersion reads the default version before it is repeated (a repeat would leave an
orphaned extra version); a delete that a repeat answers NoSuchEntity is done; what can neither be repeated nor
read back fails as OutcomeUnknown.

boto3 and botocore are imported when the first session opens, not with this module.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from remediator import __version__
from remediator.aws import clientcache, lostanswer, ratelimit, retry
from remediator.aws.retry import EXPIRED_CODES, LostAnswer, RetryPolicy, call_with_retry
from remediator.errors import AwsError, CheckModeViolation, RemediatorError
from remediator.model import Account

if TYPE_CHECKING:
    import boto3

    from remediator.aws.ratelimit import TokenBucket

READ_PREFIXES = ("Get", "List", "Describe", "Generate", "Lookup", "Simulate", "Head", "Search")

# Observers of every API call, in-process: (account name, service, OperationName, params, read_only).
# The benchmark and the tests count calls with it; nothing in the product depends on it.
CALL_OBSERVERS: list[Callable[[str, str, str, dict[str, Any], bool], None]] = []
# Functions run on each new botocore client: tests register `before-send` handlers here to inject the
# responses AWS gives where the emulator differs.
CLIENT_HOOKS: list[Callable[[Any], None]] = []

REACH_TIMEOUT = 10.0  # seconds a try at reaching an account may take: two tries stay well within a minute
# (STS clients, which only reach accounts and assume roles, answer within it or fail)
OPEN_POLICY = RetryPolicy(attempts=3, base_delay=1.0, max_delay=5.0, total_seconds=20.0)
_EMULATOR_CREDENTIALS = {"access_key": "testing", "secret_key": "testing"}


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


class ExpiredCredentials(AwsError):
    """A write refused because the session's temporary credentials had expired. They have been refreshed
    since; the write itself is not repeated blindly: the runner reads and plans that change again."""


class Client:
    """A botocore client whose calls go through the one retry policy (and the account's rate limit)."""

    def __init__(
        self,
        raw: Any,
        policy: RetryPolicy,
        *,
        limiter: TokenBucket | None = None,
        owner: AccountSession | None = None,
    ) -> None:
        self.raw = raw
        self.policy = policy
        self.limiter = limiter
        self.owner = owner

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        method = getattr(self.raw, operation, None)
        if method is None:
            raise RemediatorError(f"unknown {self.raw.meta.service_model.service_name} operation {operation!r}")
        return self._invoke(method, operation, params, self.policy)

    def call_counting_retries(self, operation: str, on_retry: Callable[[str], None], **params: Any) -> dict[str, Any]:
        """`call`, telling `on_retry` the error code of each retry (throttled look-ups in a coverage report)."""
        method = getattr(self.raw, operation)
        return self._invoke(method, operation, params, self.policy, on_retry=on_retry)

    def call_propagating(self, operation: str, codes: frozenset[str], **params: Any) -> dict[str, Any]:
        """A call that may reach AWS before an earlier write of the run has propagated: the error `codes`
        that mean so (NoSuchEntity right after a create) are retried for as long as AWS takes."""
        method = getattr(self.raw, operation)
        return self._invoke(method, operation, params, retry.PROPAGATION_POLICY, also=codes)

    def _invoke(
        self, method: Any, operation: str, params: dict[str, Any], policy: RetryPolicy, **options: Any
    ) -> dict[str, Any]:
        """One call under the policy. Expired temporary credentials are refreshed; then a read is tried
        again, and a write fails as ExpiredCredentials (its change is planned again, not repeated)."""
        credentials = self.owner.assumed_credentials() if self.owner is not None else None
        generation = credentials.generation if credentials is not None else 0
        options["lost"] = self._lost_answer(operation, params)
        try:
            return call_with_retry(lambda: method(**params), operation, policy, limiter=self.limiter, **options)
        except AwsError as exc:
            if exc.code not in EXPIRED_CODES or credentials is None:
                raise
            credentials.force_refresh(generation)
            api_name = self.raw.meta.method_to_api_mapping.get(operation, operation)
            if is_mutating(api_name):
                if self.owner is not None:
                    self.owner.expired_writes += 1
                raise ExpiredCredentials(exc.operation, exc.code, exc.aws_message)
        return call_with_retry(lambda: method(**params), operation, policy, limiter=self.limiter, **options)

    def _lost_answer(self, operation: str, params: dict[str, Any]) -> LostAnswer | None:
        """How a write of this (writable) client settles a lost answer; None for reads and read-only clients."""
        if self.owner is None or self.owner.read_only:
            return None
        api_name = self.raw.meta.method_to_api_mapping.get(operation, operation)
        if not is_mutating(api_name):
            return None
        return lostanswer.lost_answer(self, api_name, params)

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


# --- what every session of the process shares: botocore's data and handlers ---------------------------

_TEMPLATE_LOCK = threading.Lock()
_TEMPLATE: Any = None


class _SearchPaths(list):  # type: ignore[type-arg]
    """The shared loader's search paths: boto3 adds its own data path once per session; keep one copy."""

    def append(self, path: Any) -> None:
        if path not in self:
            super().append(path)


def _template() -> Any:
    """A botocore session made once per process: its data loader (service models, endpoints, rules,
    each parsed once and cached) and its handlers are what every later session starts from."""
    global _TEMPLATE
    with _TEMPLATE_LOCK:
        if _TEMPLATE is None:
            import botocore.session

            template = botocore.session.Session()
            loader = template.get_component("data_loader")
            loader._search_paths = _SearchPaths(loader.search_paths)
            clientcache.install(loader)  # its clients share each service's model and client class
            template.shared_handlers = clientcache.shared_handlers(template._original_handler)
            _TEMPLATE = template
        return _TEMPLATE


def botocore_session(profile: str | None = None) -> Any:
    """A new botocore session (its own credentials and config) sharing the process's parsed data and its
    built-in handlers (read-only: each client copies them): ~2 ms instead of ~40 ms, no JSON parsed again."""
    import botocore.session

    template = _template()
    session = botocore.session.Session(
        event_hooks=template.shared_handlers, include_builtin_handlers=False, profile=profile
    )
    # Parsed models, and the exception classes made from them (walking every error shape of a service,
    # ~10 ms a client at its first error), are the same for every account. The exceptions factory is one
    # of botocore's internal components: shared where botocore offers the internal interface.
    session.register_component("data_loader", template.get_component("data_loader"))
    if hasattr(template, "_get_internal_component") and hasattr(session, "_register_internal_component"):
        factory = template._get_internal_component("exceptions_factory")
        session._register_internal_component("exceptions_factory", factory)
    return session


def boto3_session(
    *, profile: str | None = None, region: str | None = None, credentials: dict[str, str] | None = None
) -> Any:
    """A botocore session (what boto3.Session wraps; clients are made from it the same way) for a profile
    or the environment's credentials, or for the given ones; an unknown profile fails here."""
    import botocore.exceptions

    try:
        session = botocore_session(profile)
        if profile:
            session.get_scoped_config()  # an unknown profile fails here, not at the first call
    except botocore.exceptions.ProfileNotFound:
        raise RemediatorError(f"AWS profile {profile!r} not found")
    if credentials:
        session.set_credentials(**credentials)
    if region:
        session.set_config_variable("region", region)
    return session


# Clients are made one at a time: it is all CPU (copying handlers, building the client class), so
# threads gain nothing by making them together, and sixteen threads contending for the GIL over it cost
# a third more CPU than one at a time.
_CLIENT_LOCK = threading.Lock()


_CALLER = threading.local()  # the account a shared (hub) client is calling for, for CALL_OBSERVERS


def make_client(
    session: Any,
    service: str,
    region: str,
    *,
    endpoint_url: str | None,
    observed_as: str,
    firewall: bool,
    read_timeout: float = 60,
) -> Any:
    """A botocore client with botocore's retries off, the check-mode firewall (when `firewall`), the call
    observers and the tests' hooks."""
    import botocore.config

    config = botocore.config.Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        user_agent_extra=f"remediator/{__version__}",
        connect_timeout=min(10, read_timeout),
        read_timeout=read_timeout,
        max_pool_connections=10,
    )
    botocore_sess = getattr(session, "_session", session)  # a boto3.Session (tests give one) wraps one
    with _CLIENT_LOCK:
        raw = botocore_sess.create_client(service, region_name=region, endpoint_url=endpoint_url, config=config)

    def before_call(params: Any, model: Any, **_: Any) -> None:
        if firewall and is_mutating(model.name):
            raise CheckModeViolation(
                f"refused {service}.{model.name}: this client is read-only (check mode or planning)"
            )
        name = getattr(_CALLER, "account", None) or observed_as
        for observer in CALL_OBSERVERS:
            observer(name, service, model.name, dict(params), firewall)

    raw.meta.events.register("before-parameter-build.*.*", before_call)
    for hook in CLIENT_HOOKS:
        hook(raw)
    return raw


class AssumedCredentials:
    """Marker base; the real class is made on first use (it subclasses botocore's RefreshableCredentials)."""

    generation: int

    def force_refresh(self, seen: int) -> None:  # pragma: no cover - replaced by the botocore subclass
        raise NotImplementedError


def _assumed_credentials_class() -> type:
    from botocore.credentials import RefreshableCredentials

    class _Assumed(RefreshableCredentials, AssumedCredentials):  # type: ignore[misc]
        """Role credentials that refresh themselves (AssumeRole again) before they expire, and on demand
        after AWS said they had (`ExpiredToken`)."""

        generation = 0

        def _set_from_data(self, data: dict[str, Any]) -> None:
            super()._set_from_data(data)
            self.generation += 1

        def force_refresh(self, seen: int) -> None:
            """Refresh now, unless another thread already did since generation `seen`."""
            with self._refresh_lock:
                if self.generation == seen:
                    self._protected_refresh(is_mandatory=True)

    return _Assumed


_ASSUMED_CLASS: type | None = None


def assumed_credentials(metadata: dict[str, Any], refresh: Callable[[], dict[str, Any]]) -> Any:
    global _ASSUMED_CLASS
    if _ASSUMED_CLASS is None:
        _ASSUMED_CLASS = _assumed_credentials_class()
    return _ASSUMED_CLASS.create_from_metadata(metadata, refresh_using=refresh, method="assume-role")  # type: ignore[attr-defined]


class Hub:
    """What every account of one run shares: the base sessions roles are assumed from (one per profile,
    region and endpoint), their STS clients, and one STS budget for all of them: every AssumeRole of a run
    goes to the hub account's STS, so 500 accounts opened at once must not throttle it."""

    def __init__(self, sts_budget: TokenBucket | None = None) -> None:
        self.sts_budget = sts_budget or ratelimit.hub_bucket()
        self._lock = threading.Lock()
        self._bases: dict[tuple[Any, ...], tuple[Any, str | None]] = {}
        self._sts: dict[tuple[Any, ...], Client] = {}

    def base(self, account: Account) -> tuple[Any, str | None]:
        """The session an account's own credentials come from (its profile, or the environment), and its
        access key id. On a loopback endpoint without credentials: the emulator's placeholders."""
        key = (account.profile, account.region, account.endpoint_url)
        with self._lock:
            if key not in self._bases:
                base = boto3_session(profile=account.profile, region=account.region)
                credentials = base.get_credentials()
                if is_loopback(account.endpoint_url) and credentials is None:
                    base = boto3_session(region=account.region, credentials=_EMULATOR_CREDENTIALS)
                    credentials = base.get_credentials()
                self._bases[key] = (base, credentials.access_key if credentials else None)
            return self._bases[key]

    def sts(self, account: Account) -> Client:
        """The STS client AssumeRole goes through for this account (shared with every account that has the
        same base), limited by the hub's budget; few retries: an account whose role cannot be assumed fails
        at once, not after minutes of backoff."""
        key = (account.profile, account.region, account.endpoint_url)
        base, _ = self.base(account)
        with self._lock:
            client = self._sts.get(key)
        if client is None:
            raw = make_client(
                base, "sts", account.region, endpoint_url=account.endpoint_url, observed_as="hub", firewall=False,
                read_timeout=REACH_TIMEOUT,
            )  # fmt: skip
            with self._lock:
                client = self._sts.setdefault(key, Client(raw, OPEN_POLICY, limiter=self.sts_budget))
        return client

    def assume_role(self, account: Account) -> dict[str, Any]:
        """AssumeRole into the account's role, as RefreshableCredentials metadata (and, under `identity`,
        who the credentials are: what GetCallerIdentity would answer with them)."""
        params: dict[str, Any] = {
            "RoleArn": account.role_arn,
            "RoleSessionName": account.session_name or f"remediator-{account.name}"[:64],
        }
        if account.external_id:
            params["ExternalId"] = account.external_id
        sts = self.sts(account)
        _CALLER.account = account.name
        try:
            answer = sts.call("assume_role", **params)
            creds = answer["Credentials"]
        except AwsError as exc:
            raise RemediatorError(f"cannot assume {account.role_arn}: {exc}")
        finally:
            _CALLER.account = None
        expiry = creds["Expiration"]
        if isinstance(expiry, datetime):
            expiry = (expiry if expiry.tzinfo else expiry.replace(tzinfo=UTC)).isoformat()
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": str(expiry),
            "identity": _assumed_identity(answer.get("AssumedRoleUser") or {}),
        }


def _assumed_identity(user: dict[str, Any]) -> dict[str, Any] | None:
    """GetCallerIdentity's answer for assumed-role credentials, from AssumeRole's own: the account is the
    one in the assumed-role ARN (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION)."""
    arn = str(user.get("Arn") or "")
    parts = arn.split(":")
    if len(parts) < 6 or not parts[4]:
        return None
    return {"Account": parts[4], "Arn": arn, "UserId": user.get("AssumedRoleId", "")}


class AccountSession:
    """Credentials and clients for one account; read_only sessions cannot write.

    A writable session and its reader (`reader()`) share the credentials, the account's rate limit and
    what no change can alter; each holds its own clients (only the reader's carry the firewall).
    """

    def __init__(
        self,
        account: Account,
        *,
        read_only: bool,
        policy: RetryPolicy | None = None,
        boto_session: boto3.Session | None = None,
        hub: Hub | None = None,
        limiter: TokenBucket | None = None,
    ) -> None:
        self.account = account
        self.read_only = read_only
        self.policy = policy or retry.DEFAULT_POLICY
        self.hub = hub or Hub()
        self.limiter = limiter or ratelimit.account_bucket(account.name)
        self._boto = boto_session
        self._clients: dict[tuple[str, str], Client] = {}
        self._lock = threading.Lock()
        self._session_lock = threading.Lock()
        self._identity: dict[str, Any] | None = None
        self._reader: AccountSession | None = None
        self._credentials: Any = None  # AssumedCredentials, once role_arn is assumed
        self.base_access_key_id: str | None = None  # the key that assumed role_arn, if any
        self.settled: dict[str, Any] = {}  # reads no change can alter, shared by every ReadContext on this session
        self.expired_writes = 0  # writes refused with expired credentials (refreshed since; planned again)

    def client(self, service: str, region: str | None = None) -> Client:
        region = region or self.account.region
        key = (service, region)
        with self._lock:
            if key in self._clients:
                return self._clients[key]
        # Made outside the lock: opening the session (AssumeRole) may take a while.
        raw = make_client(
            self._session(), service, region, endpoint_url=self.account.endpoint_url, observed_as=self.account.name,
            firewall=self.read_only, read_timeout=REACH_TIMEOUT if service == "sts" else 60,
        )  # fmt: skip
        with self._lock:
            return self._clients.setdefault(key, Client(raw, self.policy, limiter=self.limiter, owner=self))

    def reader(self) -> AccountSession:
        """A read-only session on the same credentials (no second AssumeRole); one per session, so the
        planner's and the applier's reads share its clients and identity."""
        if self.read_only:
            return self
        with self._session_lock:
            if self._reader is None:
                reader = AccountSession(self.account, read_only=True, policy=self.policy, hub=self.hub,
                                        limiter=self.limiter)  # fmt: skip
                reader.settled = self.settled  # one session's readers share what no change can alter
                self._reader = reader
            reader = self._reader
        reader._boto = self._session()
        reader._credentials = self._credentials
        reader.base_access_key_id = self.base_access_key_id
        if reader._identity is None:
            reader._identity = self._identity
        return reader

    def identity(self, policy: RetryPolicy | None = None, *, confirm: bool = False) -> dict[str, Any]:
        """Who the credentials are, once; used to check we reached the account the inventory names.

        GetCallerIdentity, unless AssumeRole already said it (its answer names the assumed-role ARN, and
        so the account: one STS client and one call less per account); `confirm` asks it anyway. With a
        `policy` (reaching the account) it is retried as that policy says. STS clients answer within
        REACH_TIMEOUT a try: an endpoint that takes the connection and never answers must not hold the
        account for the usual minute a read may take."""
        if self._identity is None and not confirm:
            self._session()  # opening the session (AssumeRole) may answer it
        if self._identity is None or confirm:
            sts = self.client("sts")
            if policy is not None:
                sts = Client(sts.raw, policy, limiter=self.limiter, owner=self)
            self._identity = sts.call("get_caller_identity")
        return self._identity

    def verify_account(self, policy: RetryPolicy | None = None, *, confirm: bool = False) -> None:
        """Prove the credentials work and reach the account the inventory names: AssumeRole's answer, or
        one GetCallerIdentity (always, with `confirm`)."""
        identity = self.identity(policy, confirm=confirm)
        expected = self.account.account_id
        if expected and identity.get("Account") != expected:
            raise RemediatorError(
                f"the credentials reach account {identity.get('Account')}, not {expected} as the inventory says;"
                " nothing was read or changed"
            )

    def access_key_id(self) -> str | None:
        creds = self._session().get_credentials()
        return creds.access_key if creds else None

    def assumed_credentials(self) -> AssumedCredentials | None:
        """The role credentials this session assumed (None: it signs with its base credentials)."""
        return self._credentials if isinstance(self._credentials, AssumedCredentials) else None

    def _session(self) -> Any:
        """The botocore session (or the boto3.Session given) this account's clients are made from."""
        with self._session_lock:
            if self._boto is None:
                self._boto = self._open()
            return self._boto

    def _open(self) -> Any:
        account = self.account
        base, base_key = self.hub.base(account)
        if not account.role_arn:
            return base
        self.base_access_key_id = base_key
        metadata = self.hub.assume_role(account)
        credentials = assumed_credentials(metadata, lambda: self.hub.assume_role(account))
        self._credentials = credentials
        self._identity = self._identity or metadata.get("identity")
        session = botocore_session()
        session._credentials = credentials  # botocore has no public setter for a credentials object
        session.set_config_variable("region", account.region)
        return session
