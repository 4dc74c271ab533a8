"""The per-account token bucket, on a fake clock: bursts, waits, halving on a throttle, creeping back."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

import pytest

from remediator.aws.ratelimit import TokenBucket, account_bucket, hub_bucket


class FakeClock:
    """time.monotonic and time.sleep for a bucket: sleeping moves the clock on, and is recorded."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def bucket(clock: FakeClock, rate: float = 2.0, **kwargs: object) -> TokenBucket:
    return TokenBucket(rate, clock=clock, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]


def test_a_burst_goes_through_then_calls_are_spaced_at_the_rate() -> None:
    clock = FakeClock()
    limiter = bucket(clock, rate=2.0, burst=2)
    assert [limiter.acquire(), limiter.acquire()] == [0.0, 0.0]
    assert limiter.acquire() == pytest.approx(0.5)  # the third waits for half a second's refill
    assert limiter.acquire() == pytest.approx(1.0)  # and the fourth queues behind it
    assert clock.slept == pytest.approx([0.5, 1.0])


def test_tokens_refill_with_time_up_to_the_burst_only() -> None:
    clock = FakeClock()
    limiter = bucket(clock, rate=2.0, burst=2)
    limiter.acquire(), limiter.acquire()
    clock.advance(60)  # a long quiet spell saves up no more than the burst
    assert [limiter.acquire(), limiter.acquire()] == [0.0, 0.0]
    assert limiter.acquire() == pytest.approx(0.5)


def test_a_throttle_halves_the_rate_and_drops_the_saved_burst() -> None:
    clock = FakeClock()
    limiter = bucket(clock, rate=8.0, burst=8, max_rate=8.0)
    limiter.throttled()
    assert limiter.rate == 4.0 and limiter.throttles == 1
    assert limiter.acquire() == pytest.approx(0.25)  # no burst left: one token at the new rate
    clock.advance(1.0)
    limiter.throttled()
    clock.advance(1.0)
    limiter.throttled()
    assert limiter.rate == 1.0


def test_throttles_together_halve_the_rate_once_a_second() -> None:
    clock = FakeClock()
    limiter = bucket(clock, rate=16.0, max_rate=16.0)
    for _ in range(8):  # eight calls in flight, throttled together: they were all sent at the old rate
        limiter.throttled()
    assert limiter.rate == 8.0 and limiter.throttles == 8
    clock.advance(0.99)
    limiter.throttled()
    assert limiter.rate == 8.0
    clock.advance(0.01)
    limiter.throttled()
    assert limiter.rate == 4.0


def test_the_rate_never_falls_below_the_floor() -> None:
    clock = FakeClock()
    limiter = bucket(clock, rate=4.0, min_rate=0.5)
    for _ in range(10):
        limiter.throttled()
        clock.advance(1.0)
    assert limiter.rate == 0.5 and limiter.throttles == 10


def test_until_the_first_throttle_each_success_adds_a_twentieth_of_the_ceiling() -> None:
    clock = FakeClock()
    limiter = bucket(clock, rate=20.0, max_rate=40.0)
    for _ in range(5):  # a twentieth of the ceiling each
        limiter.succeeded()
    assert limiter.rate == pytest.approx(30.0)
    for _ in range(100):
        limiter.succeeded()
    assert limiter.rate == 40.0  # and no further


def test_after_a_throttle_the_rate_climbs_back_by_recovery_calls_a_second_per_second() -> None:
    clock = FakeClock()
    limiter = bucket(clock, rate=20.0, max_rate=40.0, recovery=2.0)
    limiter.throttled()
    assert limiter.rate == 10.0
    for _ in range(10):  # one second of successes at 10 calls a second
        limiter.succeeded()
    assert limiter.rate == pytest.approx(12.0, abs=0.2)
    for _ in range(1000):
        limiter.succeeded()
    assert limiter.rate == 40.0


def test_threads_waiting_together_each_get_their_own_slot() -> None:
    clock = FakeClock()
    limiter = bucket(clock, rate=1.0, burst=1)
    threads = [threading.Thread(target=limiter.acquire) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # one went at once, nine waited 1, 2, … 9 seconds: no two callers were given the same token
    assert sorted(round(s, 6) for s in clock.slept) == [float(n) for n in range(1, 10)]
    assert limiter.waited == pytest.approx(45.0)


def test_bad_rate_is_refused() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0)


def test_account_and_hub_buckets_are_separate_budgets() -> None:
    one, other, hub = account_bucket("a"), account_bucket("b"), hub_bucket()
    assert one is not other and hub is not one
    assert one.max_rate >= one.rate > 0 and hub.rate > 0


# --- throttles that follow the rate, and throttles that do not ---------------------------------------


def aws_limit(rate: float) -> Callable[[float], bool]:
    """AWS's side: a token bucket of `rate` calls a second (bursts of `rate`); True: this call is throttled."""
    state = {"tokens": rate, "at": None}

    def throttled(now: float) -> bool:
        at = state["at"] if state["at"] is not None else now
        state["tokens"], state["at"] = min(rate, state["tokens"] + (now - at) * rate), now
        if state["tokens"] >= 1:
            state["tokens"] -= 1
            return False
        return True

    return throttled


def at_random(share: float, seed: int) -> Callable[[float], bool]:
    """Throttles that come whatever the rate: each call is throttled with probability `share`."""
    rng = random.Random(seed)
    return lambda now: rng.random() < share


def drive(throttle: Callable[[float], bool], calls: int = 3000) -> tuple[TokenBucket, list[tuple[float, bool]]]:
    """One caller sending as fast as the account's bucket lets it, on a fake clock: (bucket, [(when, throttled)])."""
    clock = FakeClock()
    limiter = account_bucket("a")
    limiter._clock, limiter._sleep = clock, clock.sleep  # the account bucket as the product makes it
    limiter._updated = clock.now
    answers = []
    for _ in range(calls):
        clock.advance(1 / limiter.rate)
        throttled = throttle(clock.now)
        (limiter.throttled if throttled else limiter.succeeded)()
        answers.append((clock.now, throttled))
    return limiter, answers


def per_second(answers: list[tuple[float, bool]]) -> tuple[float, float]:
    """Calls a second and the share throttled over the last thousand answers."""
    last = answers[-1000:]
    return 1000 / (last[-1][0] - last[0][0]), sum(t for _, t in last) / 1000


@pytest.mark.parametrize("aws_rate", [5, 15, 30])
def test_throttles_that_follow_the_rate_keep_the_bucket_at_aws_rate(aws_rate: float) -> None:
    limiter, answers = drive(aws_limit(aws_rate))
    rate, throttled = per_second(answers)
    assert rate == pytest.approx(aws_rate, rel=0.2)  # halvings stood: the rate was the cause
    assert throttled < 0.2
    assert limiter.noise == 0 and limiter.undone == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_throttles_that_do_not_follow_the_rate_leave_it_alone(seed: int) -> None:
    """A third of calls throttled whatever the rate: halving twice did not make them rarer, so the rate went
    back up, and the throttles are taken for noise. Classic AIMD would sit at its floor (half a call a second)."""
    limiter, answers = drive(at_random(0.3, seed))
    rate, throttled = per_second(answers)
    assert rate > 30 and limiter.rate > 30
    assert throttled == pytest.approx(0.3, abs=0.05)
    assert limiter.undone >= 1 and limiter.noise == pytest.approx(0.3, abs=0.1)


def test_a_limit_that_appears_above_known_noise_is_found() -> None:
    noise, limit = at_random(0.2, 1), aws_limit(10)
    limiter, answers = drive(lambda now: noise(now) or (now > 200 and limit(now)), calls=6000)
    rate, _ = per_second(answers)
    assert rate < 20  # well under the 40 the noise alone allowed
