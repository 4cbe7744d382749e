"""The sink worker: verdict topics → database, exactly once in effect.

It reads ``linkage.verified``, ``linkage.held``, ``linkage.dlq``, the
reviewers' decisions (``linkage.decisions``) and the guard's rulings on them
(``linkage.decided``) with a kafka-python consumer in the ``<app id>-sink`` group. The consumed position
is stored by :class:`sinks.SinkWriter` in the same transaction as the rows,
and on every assignment the consumer seeks to the stored position, so a
crash (kill -9) loses nothing and duplicates nothing. Offsets are committed
to Kafka too, after the database, only so that lag can be watched.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from typing import TYPE_CHECKING, Callable

from kafka import ConsumerRebalanceListener, KafkaConsumer, OffsetAndMetadata

import schemas
from sinks import SinkError, SinkMessage, SinkWriter
from streams import topics
from streams.events import dead_letter_message
from streams.settings import KafkaSettings

if TYPE_CHECKING:
    from linkguard.ops.metrics import SinkMetrics

log = logging.getLogger(__name__)


#: the name the sink worker stores its positions under (``consumed_offsets.consumer``)
SINK_CONSUMER = "sink"


def sink_topics(settings: KafkaSettings) -> tuple[str, ...]:
    """The topics the sink worker consumes (and stores positions of)."""
    names = topics.names(settings)
    return (names.verified, names.held, names.dlq, names.decisions, names.decided)


class _SeekToStored(ConsumerRebalanceListener):
    def __init__(self, worker: "SinkWorker") -> None:
        self.worker = worker

    def on_partitions_revoked(self, revoked) -> None:  # nothing buffered survives a poll loop turn
        pass

    def on_partitions_assigned(self, assigned) -> None:
        self.worker.seek_to_stored(assigned)


class SinkWorker:
    """One sink consumer; run several in the group to scale with partitions."""

    def __init__(self, settings: KafkaSettings, writer: SinkWriter, *, consumer_name: str = SINK_CONSUMER,
                 max_records: int = 2000, metrics: "SinkMetrics | None" = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.writer = writer
        self.consumer_name = consumer_name
        self.codec = schemas.Codec()
        names = topics.names(settings)
        self.topics = sink_topics(settings)
        self._kind = {names.verified: "verified", names.held: "held", names.dlq: "dead_letter",
                      names.decisions: "decision", names.decided: "ruling"}
        session = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000} if settings.local_mode else {}
        self.consumer = KafkaConsumer(
            **settings.kafka_python_config(), group_id=f"{settings.app_id}-sink",
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=max_records,
            fetch_max_bytes=16 * 1024 * 1024, max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms, fetch_min_bytes=settings.sink_fetch_min_bytes, **session,
        )
        self.consumer.subscribe(list(self.topics), listener=_SeekToStored(self))
        self._stop = threading.Event()

    def seek_to_stored(self, assigned) -> None:
        stored = self.writer.positions(self.consumer_name, self.topics)
        for tp in assigned:
            position = stored.get((tp.topic, tp.partition))
            if position is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, position)

    def to_messages(self, records) -> list[SinkMessage]:
        """Decode one poll's records; anything undecodable becomes a sink-stage dead letter."""
        messages = []
        for record in records:
            kind = self._kind[record.topic]
            name = {"dead_letter": "dead_letter", "decision": "decision", "ruling": "decision"}.get(kind, "verdict")
            try:
                payload = self.codec.decode(name, record.value)
            except schemas.DecodeError as e:
                kind = "dead_letter"
                payload = dead_letter_message(
                    topic=record.topic, partition=record.partition, offset=record.offset,
                    key=record.key, value=record.value, reason="UNDECODABLE", error=str(e), stage="sink")
            messages.append(SinkMessage(topic=record.topic, partition=record.partition, offset=record.offset,
                                        kind=kind, payload=payload, raw=record.value))
        return messages

    def run_once(self, timeout_ms: int = 500) -> int:
        polled = self.consumer.poll(timeout_ms=timeout_ms)
        records = [r for batch in polled.values() for r in batch]
        if not records:
            return 0
        self.apply(self.to_messages(records))
        # The database holds the truth; this commit only feeds lag monitoring.
        offsets = {tp: OffsetAndMetadata(batch[-1].offset + 1, "", -1) for tp, batch in polled.items()}
        try:
            self.consumer.commit(offsets)
        except Exception as e:  # a failed lag commit never loses data
            log.warning("could not commit sink offsets to Kafka: %s", type(e).__name__)
        return len(records)

    def apply(self, messages: list[SinkMessage]) -> None:
        started = time.perf_counter()
        apply_or_dead_letter(self.writer, self.consumer_name, messages)
        if self.metrics is not None:  # after the commit: latency up to the row being durable
            self.metrics.written(messages, time.perf_counter() - started)

    def run(self, on_batch: Callable[[int], None] | None = None) -> None:
        while not self._stop.is_set():
            n = self.run_once()
            if n and on_batch:
                on_batch(n)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.consumer.close()


def apply_or_dead_letter(writer: SinkWriter, consumer: str, messages: list[SinkMessage]) -> None:
    """Write a batch; a batch the database refuses is bisected to the message it refuses,
    which becomes a sink-stage dead letter so the stream goes on.

    An outage that outlasts the writer's retries is raised: the process stops,
    and a restart resumes from the stored position.
    """
    try:
        writer.apply(consumer, messages)
        return
    except SinkError as e:
        if e.transient:
            raise
        if len(messages) > 1:
            middle = len(messages) // 2
            apply_or_dead_letter(writer, consumer, messages[:middle])
            apply_or_dead_letter(writer, consumer, messages[middle:])
            return
        refused, error = messages[0], e
    # str(SinkError) names table and position only; the chained database error may hold values.
    log.error("the database refused %s: %s", refused.position, error)
    letter = dead_letter_message(
        topic=refused.topic, partition=refused.partition, offset=refused.offset, key=None,
        value=refused.raw, reason="SINK_REFUSED", error=str(error), stage="sink")
    writer.apply(consumer, [SinkMessage(topic=refused.topic, partition=refused.partition,
                                        offset=refused.offset, kind="dead_letter", payload=letter,
                                        raw=refused.raw)])


def run_sink(settings: KafkaSettings, writer: SinkWriter) -> None:
    """Run until SIGTERM/SIGINT; with LINKGUARD_METRICS_PORT set, serve /metrics there too."""
    from linkguard.ops.metrics import MetricsSettings, build_registry, serve

    metrics_settings = MetricsSettings()
    metrics = None
    if metrics_settings.metrics_port:
        registry, metrics = build_registry(sink=True)
        serve(registry, metrics_settings.metrics_port, metrics_settings.metrics_addr)
    worker = SinkWorker(settings, writer, metrics=metrics)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.stop())
    # What start-up made (modules, SQLAlchemy's metadata, the schemas: ~100,000 objects) lives as long as
    # the process; frozen, the collector stops re-scanning it each time a batch's decoded messages
    # trigger a collection (about a tenth of the sink's CPU per record, measured).
    gc.collect()
    gc.freeze()
    try:
        worker.run()
    finally:
        worker.close()


__all__ = ["SINK_CONSUMER", "SinkWorker", "apply_or_dead_letter", "run_sink", "sink_topics"]
