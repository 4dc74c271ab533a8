"""The one retry policy: tenacity owns retrying; botocore's own retries are off.

Throttling, 5xx and connection errors are retried with jittered exponential backoff, bounded in
attempts and total time; each retry is logged at debug. Anything else fails at once as an AwsError.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import botocore.exceptions
import botocore.parsers
import tenacity

from remediator.errors import AwsError

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
CONNECTION_ERRORS = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectTimeoutError,
)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 20.0
    total_seconds: float = 120.0


DEFAULT_POLICY = RetryPolicy()


def error_code(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return type(exc).__name__


# IAM is eventually consistent: an entity created a moment ago may not be visible to the next call yet.
# A call that names an entity the run has just created retries NoSuchEntity for up to two minutes, as
# Terraform's AWS provider does (its IAM propagation timeout); nothing else retries it.
PROPAGATION_POLICY = RetryPolicy(attempts=12, base_delay=1.0, max_delay=15.0, total_seconds=120.0)
NOT_YET_VISIBLE = frozenset({"NoSuchEntity"})


def is_retryable(exc: BaseException, also: frozenset[str] = frozenset()) -> bool:
    if isinstance(exc, botocore.exceptions.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0
        code = error_code(exc)
        return code in THROTTLING_CODES or code in also or status >= 500
    return isinstance(exc, CONNECTION_ERRORS)


def call_with_retry(
    fn: Callable[[], T],
    operation: str,
    policy: RetryPolicy | None = None,
    also: frozenset[str] = frozenset(),
    on_retry: Callable[[str], None] | None = None,
) -> T:
    """Run fn under the policy; failures become AwsError('failed to <operation>: Code: Message').

    `also` names error codes retried besides throttling and server errors (NoSuchEntity after a create);
    `on_retry` hears the error code of each retry (a reader that reports its coverage counts them).
    """
    policy = policy or DEFAULT_POLICY

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
        return retrying(fn)
    except botocore.exceptions.ClientError as exc:
        err = exc.response.get("Error", {})
        raise AwsError(operation, str(err.get("Code", "Unknown")), str(err.get("Message", "")))
    except CONNECTION_ERRORS as exc:
        raise AwsError(operation, type(exc).__name__, str(exc))
    except botocore.exceptions.ParamValidationError as exc:
        raise AwsError(operation, "ParamValidationError", " ".join(str(exc).split()))
    except botocore.exceptions.NoCredentialsError:
        raise AwsError(operation, "NoCredentials", "no AWS credentials found (set a profile, role_arn or environment)")
    except (botocore.exceptions.BotoCoreError, botocore.parsers.ResponseParserError) as exc:
        # ResponseParserError: an endpoint answered with something that is not an AWS response
        raise AwsError(operation, type(exc).__name__, " ".join(str(exc).split())[:300])
