"""The one retry policy: tenacity owns retrying; botocore's own retries are off.

Throttling, 5xx and connection errors are retried with jittered exponential backoff, bounded in
attempts and total time; each retry is logged at debug. Anything else fails at once as an AwsError.
With a rate `limiter` (the account's token bucket, `remediator.aws.ratelimit`), every attempt waits
for a token, a throttle halves the account's rate and a success lets it creep back up.

A write whose answer is lost (a 5xx, or a connection that drops after the request went out) may have been
applied: repeating it blindly duplicates it (CreatePolicyVersion makes one more version) or fails on its own
success (CreateRole answers EntityAlreadyExists). A write carries a `LostAnswer` that says how it finds out
(`remediator.aws.session` gives each operation its own), and `call_with_retry` follows it.

botocore is imported on first use, not with this module: commands that call no AWS API (`--version`,
`doc`, `schema`, `validate`) must not pay for importing it.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from remediator.errors import AwsError

if TYPE_CHECKING:
    from remediator.aws.ratelimit import TokenBucket

log = logging.getLogger("remediator.aws")

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
    }
)
# Temporary credentials that ran out (a long run, or a clock that jumped): refreshed, then a read is
# retried and a write is planned again (`remediator.runner`).
EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})


@functools.cache
def connection_errors() -> tuple[type[BaseException], ...]:
    import botocore.exceptions

    return (
        botocore.exceptions.EndpointConnectionError,
        botocore.exceptions.ConnectionClosedError,
        botocore.exceptions.ReadTimeoutError,
        botocore.exceptions.ConnectTimeoutError,
    )


def __getattr__(name: str) -> Any:  # CONNECTION_ERRORS, as before, without importing botocore up front
    if name == "CONNECTION_ERRORS":
        return connection_errors()
    raise AttributeError(name)


T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 20.0
    total_seconds: float = 120.0


# Many quick attempts rather than a few long waits: the account's token bucket spaces the attempts after a
# throttle (and halves its rate when the throttles follow it), so backoff only needs to spread retries out.
# Waits start at a twentieth of a second and double to 20 s; fifteen attempts (two minutes at most) keep a call
# going through a steady third of throttled or failed answers (0.35 ** 15: one call in six million fails),
# and through a minute of outage.
DEFAULT_POLICY = RetryPolicy(attempts=15, base_delay=0.05)
# A throttle's wait stops doubling here: the token bucket already spaces a throttled account's calls (at half a
# call a second at worst), and a call throttled many times in a row has met a share of throttles that do not
# follow the rate, which waiting longer does not make rarer.
THROTTLE_MAX_DELAY = 1.0


def _client_error() -> type[BaseException]:
    import botocore.exceptions

    return botocore.exceptions.ClientError


def error_code(exc: BaseException) -> str:
    if isinstance(exc, _client_error()):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return type(exc).__name__


# IAM is eventually consistent: an entity created a moment ago may not be visible to the next call yet.
# A call that names an entity the run has just created retries NoSuchEntity for up to two minutes, as
# Terraform's AWS provider does (its IAM propagation timeout); nothing else retries it.
PROPAGATION_POLICY = RetryPolicy(attempts=12, base_delay=1.0, max_delay=15.0, total_seconds=120.0)
NOT_YET_VISIBLE = frozenset({"NoSuchEntity"})


def is_retryable(exc: BaseException, also: frozenset[str] = frozenset()) -> bool:
    if isinstance(exc, _client_error()):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0  # type: ignore[attr-defined]
        code = error_code(exc)
        return code in THROTTLING_CODES or code in also or status >= 500
    return isinstance(exc, connection_errors())


def is_ambiguous(exc: BaseException) -> bool:
    """A failure after which the request may have been applied: a 5xx (AWS may fail after the change), or
    a connection lost once the request was sent (closed, reset, read timeout). A throttle or another 4xx
    means AWS did nothing, and so does a connection never made."""
    import botocore.exceptions

    if isinstance(exc, _client_error()):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0  # type: ignore[attr-defined]
        return status >= 500 and error_code(exc) not in THROTTLING_CODES
    return isinstance(exc, (botocore.exceptions.ConnectionClosedError, botocore.exceptions.ReadTimeoutError))


class OutcomeUnknown(AwsError):
    """A write failed with a lost answer (`is_ambiguous`) and was not, or could not be, settled: it may have
    been applied. Not repeated blindly; the next run reads what is there and plans from it."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(operation, code, f"{message} (the answer was lost: the request may have been applied)")


@dataclass(frozen=True)
class LostAnswer:
    """How one write learns, after an attempt whose answer was lost, whether that attempt was applied.

    `probe()` reads it: the answer to give if the write is in place, None if it is not, an AwsError if the
    entity is there but is not what the write asked for (someone else's, or changed since: not ours to take).
    `found_codes` are the errors a repeat answers when the lost attempt was applied (EntityAlreadyExists for
    a create, NoSuchEntity for a delete): only after a lost answer, and then `probe` decides. `probe_first`:
    a repeat would not fail but duplicate the write (CreatePolicyVersion), so `probe` runs before it.
    `blind`: neither safe to repeat nor readable (CreateAccessKey): fails at once as OutcomeUnknown. The
    default, nothing set, is a write that is the same when repeated (UpdateRole, PutRolePolicy, TagUser).
    """

    probe: Callable[[], Any] | None = None
    found_codes: frozenset[str] = frozenset()
    probe_first: bool = False
    blind: bool = False


REPEATABLE = LostAnswer()


def settling(fn: Callable[[], T], lost: LostAnswer, operation: str) -> Callable[[], T]:
    """fn, each attempt after a lost answer first settled as `lost` says (see LostAnswer)."""
    maybe_applied = False

    def found() -> Any:
        assert lost.probe is not None
        answer = lost.probe()
        if answer is not None:
            log.info("%s: the answer was lost, and the write is in place: not repeated", operation)
        return answer

    def attempt() -> T:
        nonlocal maybe_applied
        if maybe_applied and lost.probe_first and lost.probe is not None:
            answer = found()
            if answer is not None:
                return answer  # type: ignore[no-any-return]
        try:
            return fn()
        except Exception as exc:
            if maybe_applied and lost.probe is not None and error_code(exc) in lost.found_codes:
                answer = found()
                if answer is not None:
                    return answer  # type: ignore[no-any-return]
                raise
            if is_ambiguous(exc):
                maybe_applied = True
                if lost.blind:
                    raise _unknown(operation, exc) from exc
            raise

    return attempt


def _unknown(operation: str, exc: BaseException) -> OutcomeUnknown:
    if isinstance(exc, _client_error()):
        err = exc.response.get("Error", {})  # type: ignore[attr-defined]
        return OutcomeUnknown(operation, str(err.get("Code", "Unknown")), str(err.get("Message", "")))
    return OutcomeUnknown(operation, type(exc).__name__, str(exc))


def is_throttle(exc: BaseException) -> bool:
    return isinstance(exc, _client_error()) and error_code(exc) in THROTTLING_CODES


def backoff(state: Any, policy: RetryPolicy) -> float:
    """Full jitter: a random wait up to base_delay doubled for each attempt, up to max_delay (THROTTLE_MAX_DELAY
    after a throttle)."""
    exc = state.outcome.exception() if state.outcome else None
    cap = min(policy.max_delay, THROTTLE_MAX_DELAY) if exc is not None and is_throttle(exc) else policy.max_delay
    return random.uniform(0, min(cap, policy.base_delay * 2 ** (state.attempt_number - 1)))


def limited(fn: Callable[[], T], limiter: TokenBucket | None) -> Callable[[], T]:
    """fn, each attempt of it taking a token from `limiter`, and telling it of throttles and successes."""
    if limiter is None:
        return fn

    def attempt() -> T:
        limiter.acquire()
        try:
            result = fn()
        except Exception as exc:
            if is_throttle(exc):
                limiter.throttled()
            raise
        limiter.succeeded()
        return result

    return attempt


def call_with_retry(
    fn: Callable[[], T],
    operation: str,
    policy: RetryPolicy | None = None,
    also: frozenset[str] = frozenset(),
    on_retry: Callable[[str], None] | None = None,
    limiter: TokenBucket | None = None,
    lost: LostAnswer | None = None,
) -> T:
    """Run fn under the policy; failures become AwsError('failed to <operation>: Code: Message').

    `also` names error codes retried besides throttling and server errors (NoSuchEntity after a create);
    `on_retry` hears the error code of each retry (a reader that reports its coverage counts them);
    `limiter` is the account's token bucket, taken from before each attempt; `lost` (writes) says how an
    attempt whose answer was lost is settled, and a write whose last answer was lost fails as OutcomeUnknown.
    """
    import botocore.exceptions
    import botocore.parsers
    import tenacity

    policy = policy or DEFAULT_POLICY
    connection = connection_errors()

    def log_retry(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if on_retry is not None:
            on_retry(error_code(exc) if exc else "?")
        log.debug(
            "retrying %s after %s (attempt %d, waiting %.2fs)",
            operation,
            error_code(exc) if exc else "?",
            state.attempt_number,
            state.next_action.sleep if state.next_action else 0.0,
        )

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts) | tenacity.stop_after_delay(policy.total_seconds),
        wait=lambda state: backoff(state, policy),
        retry=tenacity.retry_if_exception(lambda exc: is_retryable(exc, also)),
        before_sleep=log_retry,
        reraise=True,
    )
    attempt = limited(fn, limiter)
    if lost is not None:
        attempt = settling(attempt, lost, operation)
    try:
        try:
            return retrying(attempt)
        except Exception as exc:
            if lost is not None and is_ambiguous(exc):
                raise _unknown(operation, exc) from exc
            raise
    except botocore.exceptions.ClientError as exc:
        err = exc.response.get("Error", {})
        raise AwsError(operation, str(err.get("Code", "Unknown")), str(err.get("Message", "")))
    except connection as exc:
        raise AwsError(operation, type(exc).__name__, str(exc))
    except botocore.exceptions.ParamValidationError as exc:
        raise AwsError(operation, "ParamValidationError", " ".join(str(exc).split()))
    except botocore.exceptions.NoCredentialsError:
        raise AwsError(operation, "NoCredentials", "no AWS credentials found (set a profile, role_arn or environment)")
    except (botocore.exceptions.BotoCoreError, botocore.parsers.ResponseParserError) as exc:
        # ResponseParserError: an endpoint answered with something that is not an AWS response
        raise AwsError(operation, type(exc).__name__, " ".join(str(exc).split())[:300])
