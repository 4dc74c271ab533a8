"""Client-side rate limits: one token bucket per account, and one for the hub's STS.

AWS throttles IAM per account (every caller of an account shares its budget), so each account's session
takes a token from its own bucket before every call. The bucket adapts the way TCP does (AIMD): a
throttle halves the rate, each success adds a little back, up to the ceiling. botocore's own retries stay
off: the tenacity policy (`remediator.aws.retry`) still decides whether and when to retry; the bucket
only spaces the attempts, and tells the retry policy nothing.

The hub's budget is different: every account's AssumeRole goes to the STS of the one account the run
starts from, so 500 accounts opened at once would be 500 AssumeRole calls against one account's STS
quota. One bucket per run (`Hub` in `remediator.aws.session`) spaces them.

Times come from `clock` and waits go through `sleep`, both injectable, so tests drive a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# IAM does not publish its per-account rates (a token bucket per API whose size "depends on the API"), so
# the bucket finds it the way TCP finds a link's capacity: it starts at 20 calls a second with bursts of 20
# and climbs quickly while nothing is throttled; the first throttle halves it, and from then on it climbs
# back slowly (RECOVERY calls a second more for each second of successes) and halves again on the next.
# It never goes above 40 (other tools of the account share its budget) nor below one call every two seconds.
ACCOUNT_RATE = 20.0
ACCOUNT_MAX_RATE = 40.0
MIN_RATE = 0.5
RECOVERY = 2.0
# Throttles answering calls sent before the last halving say nothing new (AWS refills its buckets each
# second): the rate halves at most once a second, or eight threads throttled together would divide it by 256.
HALVE_INTERVAL = 1.0
# STS allows hundreds of requests a second per account and region; stay well under it, since other
# tools of the organisation assume roles from the same hub.
HUB_STS_RATE = 20.0


class TokenBucket:
    """At most `rate` calls a second on average, in bursts of up to `burst`; thread-safe.

    `acquire()` reserves a token and sleeps until it is due (outside the lock, so waiting callers queue
    in order instead of spinning). `throttled()` halves the rate (not below `min_rate`, at most once every
    HALVE_INTERVAL seconds) and empties the burst. `succeeded()` raises the rate towards `max_rate`: by
    `increase` per success until the first throttle, then by `recovery` calls a second per second.
    """

    def __init__(
        self,
        rate: float = ACCOUNT_RATE,
        *,
        burst: float | None = None,
        min_rate: float = MIN_RATE,
        max_rate: float | None = None,
        increase: float | None = None,
        recovery: float = RECOVERY,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        name: str = "",
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be above 0")
        self.rate = float(rate)
        self.max_rate = float(max_rate if max_rate is not None else rate)
        self.min_rate = min(float(min_rate), self.rate)
        self.burst = float(burst if burst is not None else max(1.0, rate))
        # Before any throttle, a twentieth of the ceiling per success: twenty calls in a row reach it.
        self.increase = float(increase if increase is not None else self.max_rate / 20)
        self.recovery = float(recovery)
        self.name = name
        self.throttles = 0  # throttles seen, for progress and reports
        self.waited = 0.0  # seconds callers spent waiting for a token
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._updated = clock()
        self._halved_at: float | None = None  # when a throttle last halved the rate
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def acquire(self) -> float:
        """Take one token, waiting for it if none is left; returns the seconds waited."""
        with self._lock:
            self._refill(self._clock())
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
            self.waited += wait
        if wait > 0:
            self._sleep(wait)
        return wait

    def throttled(self) -> None:
        """AWS said slow down: halve the rate and drop the saved-up burst, unless it was halved less than
        HALVE_INTERVAL ago (then this answers a call sent before, at the old rate)."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            self.throttles += 1
            if self._halved_at is not None and now - self._halved_at < HALVE_INTERVAL:
                return
            self._halved_at = now
            self.rate = max(self.min_rate, self.rate / 2)
            self._tokens = min(self._tokens, 0.0)

    def succeeded(self) -> None:
        """A call went through: climb towards the ceiling (quickly until the first throttle, then at
        `recovery` calls a second per second: each success adds recovery / rate)."""
        if self.rate >= self.max_rate:
            return
        with self._lock:
            self._refill(self._clock())
            step = self.increase if self._halved_at is None else self.recovery / self.rate
            self.rate = min(self.max_rate, self.rate + step)


def account_bucket(name: str = "") -> TokenBucket:
    """The bucket for one account's calls, every service and region of it."""
    return TokenBucket(ACCOUNT_RATE, max_rate=ACCOUNT_MAX_RATE, burst=ACCOUNT_RATE, name=name)


def hub_bucket() -> TokenBucket:
    """The bucket for the hub's STS (AssumeRole into every account), shared by every account of a run."""
    return TokenBucket(HUB_STS_RATE, burst=HUB_STS_RATE, name="hub sts")
