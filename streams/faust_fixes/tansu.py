"""The embedded local broker's (Tansu 0.6) wrong end offsets, and the fix (local mode only).

Tansu answers ListOffsets(latest) with the first offset of the newest batch
+ 1 when that batch holds several records. Faust uses that answer as the end
of table recovery, so the rest of the last changelog batch would be dropped
silently. A fetch's high watermark is right, so in local mode the end
offsets Faust asks for are taken from a fetch instead. On Apache Kafka the
two agree and this module is not used.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Mapping

from kafka import KafkaConsumer, TopicPartition

from streams.settings import KafkaSettings

log = logging.getLogger(__name__)

__all__ = ["true_end_offsets", "patch_highwaters"]


def true_end_offsets(settings: KafkaSettings, reported: Mapping[tuple[str, int], int],
                     timeout: float = 20.0) -> dict[tuple[str, int], int]:
    """The real next offset of each partition, read from a fetch's high watermark.

    ``reported`` is what ListOffsets answered; a partition reported empty (0)
    is empty on this broker too (the quirk needs a batch to exist).
    """
    result = dict(reported)
    wanted = {TopicPartition(t, p): end for (t, p), end in reported.items() if end and end > 0}
    if not wanted:
        return result
    consumer = KafkaConsumer(**settings.kafka_python_config(), group_id=None, enable_auto_commit=False,
                             fetch_max_wait_ms=100)
    try:
        consumer.assign(list(wanted))
        for tp, end in wanted.items():
            consumer.seek(tp, end - 1)
        pending = set(wanted)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            consumer.poll(timeout_ms=200, max_records=1)
            for tp in list(pending):
                highwater = consumer.highwater(tp)
                if highwater is not None:
                    result[(tp.topic, tp.partition)] = max(highwater, wanted[tp])
                    pending.discard(tp)
        if pending:
            log.warning("no high watermark within %.0f s for %d partitions; using ListOffsets",
                        timeout, len(pending))
    finally:
        consumer.close()
    return result


def patch_highwaters() -> None:
    """Make Faust's aiokafka consumer use :func:`true_end_offsets` (once per process, idempotent).

    Only for an app ``streams.faust_fixes.install`` gave ``local_broker``
    settings (``app._linkguard_local_broker``); any other asks ListOffsets as Faust does.
    """
    from faust.transport.drivers import aiokafka as driver

    cls = driver.AIOKafkaConsumerThread
    original = cls._highwaters
    if getattr(original, "_linkguard_patched", False):
        return

    async def _highwaters(self, partitions):  # type: ignore[no-untyped-def]
        reported = await original(self, partitions)
        settings: KafkaSettings | None = getattr(self.app, "_linkguard_local_broker", None)
        if settings is None:
            return reported
        fixed = await asyncio.to_thread(
            true_end_offsets, settings, {(tp.topic, tp.partition): v for tp, v in reported.items()})
        return {tp: fixed[(tp.topic, tp.partition)] for tp in reported}

    _highwaters._linkguard_patched = True  # type: ignore[attr-defined]
    cls._highwaters = _highwaters
