"""Faust's hard-coded 1.5 s fetch wait, made a setting (faust-streaming 0.15.3).

``AIOKafkaConsumerThread._create_worker_consumer`` builds the worker's
aiokafka consumer with ``fetch_max_wait_ms=1500`` and no setting to change it.
That is how long the broker may hold a fetch that found no new data. Apache
Kafka answers a held fetch as soon as data arrives, so there it only bounds
the idle round trips; the local broker (Tansu 0.6) answers only after a fixed
share of the wait (measured: 1.5 s → mean 365 ms, up to 730 ms; 100 ms →
mean 28 ms), and aiokafka has one fetch in flight per broker, for all of a
worker's partitions. Every hop of the guard (records → repartition → by number
→ identity → batch) then waited that long: most of ``make bench-rate``'s
latency. The patch sets the consumer's wait to the app's
``fetch_max_wait_ms`` (``KafkaSettings.consumer_fetch_max_wait_ms``) before
the consumer starts (aiokafka hands it to its fetcher then).
"""

from __future__ import annotations

from typing import Any

__all__ = ["patch_fetch_wait", "FAUST_FETCH_MAX_WAIT_MS"]

#: what faust-streaming 0.15.3 hard-codes, kept for an app that sets nothing
FAUST_FETCH_MAX_WAIT_MS = 1500


def patch_fetch_wait() -> None:
    """Make Faust's worker consumer use ``app._linkguard_fetch_max_wait_ms`` (once per process, idempotent).

    An app ``streams.faust_fixes.install`` gave no wait keeps Faust's 1.5 s.
    """
    from faust.transport.drivers import aiokafka as driver

    cls = driver.AIOKafkaConsumerThread
    original = cls._create_worker_consumer
    if getattr(original, "_linkguard_patched", False):
        return

    def _create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        wait_ms = getattr(self.app, "_linkguard_fetch_max_wait_ms", None)
        if wait_ms is not None:
            consumer._fetch_max_wait_ms = int(wait_ms)  # read by AIOKafkaConsumer.start() for its Fetcher
        return consumer

    _create_worker_consumer._linkguard_patched = True  # type: ignore[attr-defined]
    cls._create_worker_consumer = _create_worker_consumer
