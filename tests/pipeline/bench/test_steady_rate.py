"""The steady rate leaves out start-up and the tail, so a slow JVM start does not lower a job's figure."""

from pipeline.bench.stats import steady_rate


def test_rate_between_ten_and_ninety_percent_ignores_start_up_and_tail():
    # 30 s of start-up with nothing done, then 1,000/s in steps of a checkpoint a second, then a slow tail.
    samples = [(t, 0) for t in range(30)] + [(30 + i, 1000 * i) for i in range(1, 96)] + [(130, 100_000)]
    steady = steady_rate(samples, 100_000)
    assert steady.rate == 1000
    assert (steady.first[0], steady.last[0]) == (40, 120)


def test_extra_fields_ride_along_for_the_caller():
    steady = steady_rate([(0, 0, 0.0), (10, 20, 4.0), (20, 100, 9.0)], 100, low=0.2, high=0.9)
    assert steady.rate == 8 and steady.first == (10, 20, 4.0) and steady.last == (20, 100, 9.0)


def test_none_without_both_marks_at_different_times():
    assert steady_rate([(0, 0), (5, 50)], 100) is None  # never reached 90%
    assert steady_rate([(0, 0), (5, 100)], 100) is None  # 10% and 90% in the same sample
    assert steady_rate([], 100) is None
