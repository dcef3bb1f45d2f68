"""Spark's PID rate estimator, with the cases of Spark's PIDRateEstimatorSuite."""
import pytest

from dstreams.scheduler.rate import PIDRateEstimator


def test_first_batch_gives_no_estimate_then_converges_on_the_processing_rate():
    est = PIDRateEstimator(1000, min_rate=10)
    assert est.compute(1000, 1000, 500, 0) is None  # first run: learns the rate
    # steady 2000 records/s processed with no scheduling delay: the estimate stays at it
    assert est.compute(2000, 1000, 500, 0) == pytest.approx(2000)


def test_no_estimate_without_records_or_for_an_old_batch():
    est = PIDRateEstimator(1000)
    est.compute(1000, 100, 100, 0)
    assert est.compute(2000, 0, 100, 0) is None
    assert est.compute(2000, 100, 0, 0) is None
    assert est.compute(500, 100, 100, 0) is None


def test_scheduling_delay_lowers_the_rate_and_min_rate_bounds_it():
    est = PIDRateEstimator(1000, min_rate=50)
    est.compute(1000, 1000, 1000, 0)  # 1000 records/s
    no_delay = est.compute(2000, 1000, 1000, 0)
    est2 = PIDRateEstimator(1000, min_rate=50)
    est2.compute(1000, 1000, 1000, 0)
    delayed = est2.compute(2000, 1000, 1000, 2000)  # 2 s behind: the integral term pulls it down
    assert delayed < no_delay
    est3 = PIDRateEstimator(1000, min_rate=50)
    est3.compute(1000, 10, 1000, 0)
    assert est3.compute(2000, 10, 1000, 100_000) == 50


@pytest.mark.parametrize("kwargs", [dict(batch_interval_ms=0), dict(batch_interval_ms=1000, proportional=-1),
                                    dict(batch_interval_ms=1000, min_rate=0)])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError, match="PID rate estimator needs"):
        PIDRateEstimator(**kwargs)
