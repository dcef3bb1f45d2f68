"""Backpressure: Spark's PID rate estimator and the listener that feeds it batch times."""
from __future__ import annotations

import logging

from ..listener import StreamingListener

logger = logging.getLogger("dstreams")


class PIDRateEstimator:
    """Records/s a stream can sustain, from each batch's size and delays (Spark's ``PIDRateEstimator``).

    Parameters
    ----------
    batch_interval_ms : int
    proportional, integral, derivative : float
        Gains (Spark's defaults 1.0, 0.2, 0.0).
    min_rate : float
        The estimate never falls below this (records/s); Spark's default is 100.
    """

    def __init__(self, batch_interval_ms, proportional=1.0, integral=0.2, derivative=0.0, min_rate=100.0):
        if batch_interval_ms <= 0 or proportional < 0 or integral < 0 or derivative < 0 or min_rate <= 0:
            raise ValueError(
                "PID rate estimator needs a positive batch interval and min_rate and non-negative gains, got "
                f"interval={batch_interval_ms} ms, gains=({proportional}, {integral}, {derivative}), "
                f"min_rate={min_rate}"
            )
        self.batch_interval_ms = batch_interval_ms
        self.kp, self.ki, self.kd, self.min_rate = proportional, integral, derivative, float(min_rate)
        self.first_run = True
        self.latest_time = -1
        self.latest_rate = -1.0
        self.latest_error = -1.0

    def compute(self, time_ms, num_elements, processing_delay_ms, scheduling_delay_ms) -> float | None:
        """A new rate estimate in records/s, or None when this batch says nothing new."""
        if not (time_ms > self.latest_time and num_elements > 0 and processing_delay_ms > 0):
            return None
        delay_since_update = (time_ms - self.latest_time) / 1000.0
        processing_rate = num_elements / processing_delay_ms * 1000.0
        error = self.latest_rate - processing_rate
        historical_error = scheduling_delay_ms * processing_rate / self.batch_interval_ms
        d_error = (error - self.latest_error) / delay_since_update
        new_rate = max(self.latest_rate - self.kp * error - self.ki * historical_error - self.kd * d_error,
                       self.min_rate)
        self.latest_time = time_ms
        if self.first_run:
            self.latest_rate, self.latest_error, self.first_run = processing_rate, 0.0, False
            return None
        self.latest_rate, self.latest_error = new_rate, error
        return new_rate


class RateController(StreamingListener):
    """Updates ``stream.rate_limit`` (records/s) from the completed batches of that input stream."""

    def __init__(self, stream, estimator: PIDRateEstimator):
        self.stream, self.estimator = stream, estimator

    def on_batch_completed(self, info):
        own = info.input_info.get(self.stream.id)
        if own is None or info.failure_reason or info.processing_delay is None:
            return
        rate = self.estimator.compute(info.batch_time_ms, own.num_records, info.processing_delay * 1000,
                                      info.scheduling_delay * 1000)
        if rate is not None:
            logger.debug("backpressure: stream %s rate %.1f records/s", self.stream.name, rate)
            self.stream.rate_limit = rate
