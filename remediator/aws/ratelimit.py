"""Client-side rate limits: one token bucket per account, and one for the hub's STS.

AWS throttles IAM per account (every caller of an account shares its budget), so each account's session
takes a token from its own bucket before every call. The bucket adapts the way TCP does (AIMD): a
throttle halves the rate, each success adds a little back, up to the ceiling. botocore's own retries stay
off: the tenacity policy (`remediator.aws.retry`) still decides whether and when to retry; the bucket
only spaces the attempts, and tells the retry policy nothing.

AWS throttles by rate: sending slower makes its throttles rarer. Some throttles do not follow the rate
(another tool of the account bursting, a service-side hiccup), and halving for those only slows the run: at
a steady share of such throttles AIMD would sink to its floor. So a halving is a trial (`Trial`): once
enough calls were answered at the halved rate, it stands if they were (next to) never throttled, the
common case. If they still were, the rate is halved once more, and held still while it is looked at again:
throttles that follow the rate grow rarer with each halving, as much as the first look predicts; if their
share did not fall so, the rate was not the cause: it goes back to where it was before the first halving,
and that share becomes the bucket's noise floor. A
throttle is then evidence of a rate too high only while the recent share of throttles stands clearly above
the floor; the floor follows the share while it stays near it, so it fades when such throttles stop.

The hub's budget is different: every account's AssumeRole goes to the STS of the one account the run
starts from, so 500 accounts opened at once would be 500 AssumeRole calls against one account's STS
quota. One bucket per run (`Hub` in `remediator.aws.session`) spaces them.

Times come from `clock` and waits go through `sleep`, both injectable, so tests drive a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

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
# A halving is judged once TRIAL_CALLS calls (and at least HALVE_INTERVAL) were answered at the halved rate.
TRIAL_CALLS = 30
# Answered at the halved rate, a share of throttles up to the noise floor plus NOISE_MIN means the halving
# worked (a few calls sent before it are answered after it).
NOISE_MIN = 0.1
# While a trial runs, the rate halves again only if most calls are throttled, recently and since the halving
# (a rate far above AWS's).
OVERWHELMED = 2 / 3
# The recent share of throttles is taken over the last RECENT answers. With a noise floor known, a throttle is
# evidence of a rate too high only while that share stands NOISE_MARGIN above it (twice the spread of a share
# of a third over RECENT answers), and again over the next RECENT answers (a fresh look: the first share was
# picked for being high). Each RECENT answers within that band move the floor a fifth of the way to their
# share.
RECENT = 50
NOISE_MARGIN = 0.15
NOISE_FOLLOW = 0.2
# STS allows hundreds of requests a second per account and region; stay well under it, since other
# tools of the organisation assume roles from the same hub.
HUB_STS_RATE = 20.0


@dataclass
class Trial:
    """A halving on trial: the rate before the first halving of its chain, what the previous trial of the chain
    saw (its share of throttles and mean rate; None for the first), and the answers since this halving."""

    origin: float
    started: float
    earlier: tuple[float, float] | None = None
    calls: int = 0
    throttles: int = 0
    rates: float = 0.0  # the sum of the rate at each answer

    @property
    def share(self) -> float:
        return self.throttles / self.calls if self.calls else 0.0

    @property
    def mean_rate(self) -> float:
        return self.rates / self.calls if self.calls else 0.0


class TokenBucket:
    """At most `rate` calls a second on average, in bursts of up to `burst`; thread-safe.

    `acquire()` reserves a token and sleeps until it is due (outside the lock, so waiting callers queue
    in order instead of spinning). `throttled()` halves the rate (not below `min_rate`, at most once every
    HALVE_INTERVAL seconds) and empties the burst, unless the throttles are no more frequent than the
    noise floor, or the last halving is still on trial (see the module docstring). `succeeded()` raises the
    rate towards `max_rate`: by `increase` per success until the first throttle, then by `recovery` calls
    a second per second.
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
        self._trial: Trial | None = None
        self._recent: deque[bool] = deque(maxlen=RECENT)  # the last answers: throttled or not
        self._recent_throttles = 0
        self._since_follow = 0  # answers since the floor last followed the recent share
        self._suspect: list[int] | None = None  # [answers, throttles] of the fresh look, while one is taken
        self.noise = 0.0  # the share of throttles that does not follow the rate, as measured
        self._noise_measured = 0.0  # what the last undone chain measured: the floor never follows above it
        self.undone = 0  # halving chains undone: the throttles did not follow the rate
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
        HALVE_INTERVAL ago (then this answers a call sent before, at the old rate), the last halving is still
        on trial, or throttles are no more frequent than the noise floor (see the module docstring)."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            self.throttles += 1
            self._record(now, throttled=True)
            if self._halved_at is not None and now - self._halved_at < HALVE_INTERVAL:
                return
            share, trial = self._recent_share(), self._trial
            if trial is not None:
                if share >= OVERWHELMED and trial.share >= OVERWHELMED:
                    self._halve(now, Trial(trial.origin, now, trial.earlier))
                return
            if self.noise > 0:
                if self._suspect is None and share > self.noise + NOISE_MARGIN:
                    self._suspect = [0, 0]  # more than the floor: look again at the next answers
                return  # the fresh look decides (`_record`)
            self._halve(now, Trial(self.rate, now))

    def succeeded(self) -> None:
        """A call went through: climb towards the ceiling (quickly until the first throttle, then at
        `recovery` calls a second per second: each success adds recovery / rate)."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._record(now, throttled=False)
            if self.rate >= self.max_rate:
                return
            if self._trial is not None and self._trial.earlier is not None:
                return  # a second look holds its rate still, to compare the two
            step = self.increase if self._halved_at is None else self.recovery / self.rate
            self.rate = min(self.max_rate, self.rate + step)

    def _halve(self, now: float, trial: Trial) -> None:
        self._trial = trial
        self._halved_at = now
        self.rate = max(self.min_rate, self.rate / 2)
        self._tokens = min(self._tokens, 0.0)
        self._suspect = None

    def _record(self, now: float, *, throttled: bool) -> None:
        """One answer: into the recent window, and into the trial, which is judged once it has enough."""
        if len(self._recent) == self._recent.maxlen:
            self._recent_throttles -= self._recent[0]
        self._recent.append(throttled)
        self._recent_throttles += throttled
        trial = self._trial
        if trial is None:
            self._look_again(now, throttled)
            self._follow()
            return
        trial.calls += 1
        trial.throttles += throttled
        trial.rates += self.rate
        if trial.calls >= TRIAL_CALLS and now - trial.started >= HALVE_INTERVAL:
            self._judge(trial, now)

    def _recent_share(self) -> float:
        return self._recent_throttles / len(self._recent) if self._recent else 0.0

    def _look_again(self, now: float, throttled: bool) -> None:
        """The fresh look at RECENT answers after a share above the floor: still above it, the rate halves."""
        if self._suspect is None:
            return
        self._suspect[0] += 1
        self._suspect[1] += throttled
        answers, throttles = self._suspect
        if answers < RECENT:
            return
        self._suspect = None
        if throttles / answers > self.noise + NOISE_MARGIN:
            self._halve(now, Trial(self.rate, now))

    def _follow(self) -> None:
        """Every RECENT answers, a known floor moves towards their share while it stays near it (never above
        what was measured: throttles that follow the rate must not creep into it)."""
        self._since_follow += 1
        if self._since_follow < RECENT or self.noise <= 0:
            return
        self._since_follow = 0
        share = self._recent_share()
        if share <= self.noise + NOISE_MARGIN:
            self.noise = min(self._noise_measured, self.noise + NOISE_FOLLOW * (share - self.noise))

    def _judge(self, trial: Trial, now: float) -> None:
        """Next to no throttles at the halved rate: it stands. Still throttled: halve once more and look again.
        From the second look on, the two looks are compared: if AWS throttles above a rate R, a share s of
        throttles at a mean rate r means R = r (1 - s), which predicts the share at the next look's rate. A
        share nearer that prediction than the earlier share follows the rate (the chain goes on while still
        throttled); else the rate was not the cause: it goes back to where it was before the chain began, and
        the share becomes the noise floor. Shares are taken above the floor already known."""
        self._trial = None
        floor = self.noise
        share = trial.share
        if share <= floor + NOISE_MIN:
            return
        looked = (share, trial.mean_rate)
        if trial.earlier is None or self._follows_rate(trial.earlier, looked, floor):
            self._halve(now, Trial(trial.origin, now, looked))
            return
        self.rate = max(self.rate, min(self.max_rate, trial.origin))
        self.noise = self._noise_measured = share
        self.undone += 1

    @staticmethod
    def _follows_rate(earlier: tuple[float, float], later: tuple[float, float], floor: float) -> bool:
        def excess(share: float) -> float:
            return max(0.0, share - floor) / (1.0 - floor) if floor < 1.0 else 0.0

        (s1, r1), (s2, r2) = (excess(earlier[0]), earlier[1]), (excess(later[0]), later[1])
        expected = max(0.0, 1.0 - r1 * (1.0 - s1) / r2) if r2 > 0 else s1
        return s2 < s1 and s2 <= (s1 + expected) / 2


def account_bucket(name: str = "") -> TokenBucket:
    """The bucket for one account's calls, every service and region of it."""
    return TokenBucket(ACCOUNT_RATE, max_rate=ACCOUNT_MAX_RATE, burst=ACCOUNT_RATE, name=name)


def hub_bucket() -> TokenBucket:
    """The bucket for the hub's STS (AssumeRole into every account), shared by every account of a run."""
    return TokenBucket(HUB_STS_RATE, burst=HUB_STS_RATE, name="hub sts")
