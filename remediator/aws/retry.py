"""The one retry policy: tenacity owns retrying; botocore's own retries are off.

Throttling, 5xx and connection errors are retried with jittered exponential backoff, bounded in
attempts and total time; each retry is logged at debug. Anything else fails at once as an AwsError.
With a rate `limiter` (the account's token bucket, `remediator.aws.ratelimit`), every attempt waits
for a token, a throttle halves the account's rate and a success lets it creep back up.

botocore is imported on first use, not with this module: commands that call no AWS API (`--version`,
`doc`, `schema`, `validate`) must not pay for importing it.
"""

from __future__ import annotations

import functools
import logging
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


DEFAULT_POLICY = RetryPolicy()


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


def is_throttle(exc: BaseException) -> bool:
    return isinstance(exc, _client_error()) and error_code(exc) in THROTTLING_CODES


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
) -> T:
    """Run fn under the policy; failures become AwsError('failed to <operation>: Code: Message').

    `also` names error codes retried besides throttling and server errors (NoSuchEntity after a create);
    `on_retry` hears the error code of each retry (a reader that reports its coverage counts them);
    `limiter` is the account's token bucket, taken from before each attempt.
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
        wait=tenacity.wait_random_exponential(multiplier=policy.base_delay, max=policy.max_delay),
        retry=tenacity.retry_if_exception(lambda exc: is_retryable(exc, also)),
        before_sleep=log_retry,
        reraise=True,
    )
    try:
        return retrying(limited(fn, limiter))
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
