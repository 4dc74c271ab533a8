"""The per-account token bucket, on a fake clock: bursts, waits, halving on a throttle, creeping back."""

from __future__ import annotations

import threading

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
