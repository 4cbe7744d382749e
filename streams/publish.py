"""The publishing SDK: what a business system (or ``linkguard publish``) calls::

    from streams.publish import Publisher, publish_records

    publish_records([record])                  # one call: publish and wait for acks=all
    with Publisher(KafkaSettings()) as publisher:
        publisher.publish_records(records)     # many batches over one producer

Results are cumulative per publisher: ``next_offsets`` is the next offset of
every partition written to so far.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, TypeVar

from kafka import KafkaProducer
from kafka.errors import KafkaError

import schemas
from guards.exceptions import LinkguardError
from guards import Record, Resident, registry_keys
from guards.identifiers import IDENTIFIER_FIELDS, identifier_problems
from streams import topics
from streams.events import record_to_event, resident_to_message
from streams.settings import KafkaSettings

log = logging.getLogger(__name__)

__all__ = ["Publisher", "PublishResult", "PublishError", "RecordRefused", "publish_records"]

T = TypeVar("T")


class PublishError(LinkguardError, RuntimeError):
    """The broker did not acknowledge some messages."""


class RecordRefused(LinkguardError, ValueError):
    """A record the SDK will not publish (an identifier with an invisible character).

    Records before it in the same call were sent; the refused one and those after it were not.
    """


@dataclass
class PublishResult:
    """How many messages were acknowledged, and the next offset per partition."""

    sent: int = 0
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class Publisher:
    """A kafka-python producer with acks=all and idempotence, batching by default.

    Per record it only builds the event, encodes it (one cached Avro writer per
    schema) and appends it to the producer: the partition is Kafka's default rule
    worked out here (:func:`streams.topics.partition_for`, the same murmur2), so
    the acknowledged offsets are read once per partition at :meth:`flush` from the
    last message sent there, instead of a callback and a lock per message.
    """

    def __init__(self, settings: KafkaSettings, *, linger_ms: int = 10, batch_size: int = 256 * 1024,
                 codec: schemas.Codec | None = None) -> None:
        self.settings = settings
        self.codec = codec or schemas.Codec()
        self._producer = KafkaProducer(
            **settings.kafka_python_config(), acks="all", enable_idempotence=True,
            linger_ms=linger_ms, batch_size=batch_size, max_request_size=8 * 1024 * 1024,
        )
        self.topics = topics.names(settings)
        self._lock = threading.Lock()
        self._result = PublishResult()
        #: messages sent through the partition-aware path and not yet counted at a flush
        self._unconfirmed = 0
        #: (topic, partition) -> the future of the last message sent there since the last flush
        self._last_sent: dict[tuple[str, int], Any] = {}

    def publish_records(self, records: Iterable[Record], *,
                        on_sent: Callable[[int], None] | None = None) -> PublishResult:
        """Publish one RecordChanged event per record, keyed by system + record id.

        Raises :class:`RecordRefused` for a record whose key or identifiers hold an
        invisible character (it would become a second key that prints like the first).
        """
        send = self._sender(self.topics.records)
        encode = self.codec.encoder("record_changed")
        event_ids = _event_ids()
        sent = 0
        try:
            for position, record in enumerate(_reporting(records, on_sent), start=1):
                for field, problem in identifier_problems(
                        {f: getattr(record, f) for f in IDENTIFIER_FIELDS}):
                    raise RecordRefused(f"record {position} of this call ({field}): {problem}; "
                                        "remove it before publishing")
                send(topics.record_key(record.system, record.record_id),
                     encode(record_to_event(record, event_id=next(event_ids))))
                sent = position
        finally:
            self._sent_unconfirmed(sent)
        return self.flush()

    def publish_residents(self, residents: Iterable[Resident], *,
                          on_sent: Callable[[int], None] | None = None) -> PublishResult:
        """Publish registry entries keyed by number, once more under each former number."""
        send = self._sender(self.topics.residents)
        encode = self.codec.encoder("resident")
        count = 0
        try:
            for resident in _reporting(residents, on_sent):
                value = encode(resident_to_message(resident))
                for key in registry_keys(resident):
                    send(key.encode(), value)
                    count += 1
        finally:
            self._sent_unconfirmed(count)
        return self.flush()

    def send_raw(self, topic: str, key: bytes | None, value: bytes | None):
        """Send bytes as they are (tests of bad input, dead-letter replay).

        Returns kafka-python's future: after :meth:`flush`, ``.get()`` is the
        acknowledged topic, partition and offset.
        """
        return self._send(topic, key, value)

    def _sender(self, topic: str) -> Callable[[bytes, bytes], None]:
        """Send keyed messages to ``topic`` in the partition Kafka's default partitioner would pick."""
        produce, last_sent, on_error = self._producer.send, self._last_sent, self._on_unconfirmed_error
        partitions = 0  # asked on the first message (it waits for the topic's metadata, as send would)

        def send(key: bytes, value: bytes) -> None:
            nonlocal partitions
            if not partitions:
                partitions = len(self._producer.partitions_for(topic))
            partition = topics.partition_for(key, partitions)
            future = produce(topic, key=key, value=value, partition=partition)
            future.add_errback(on_error, topic)
            last_sent[(topic, partition)] = future

        return send

    def _sent_unconfirmed(self, count: int) -> None:
        with self._lock:
            self._unconfirmed += count

    def _send(self, topic: str, key: bytes | None, value: bytes | None):
        future = self._producer.send(topic, key=key, value=value)
        future.add_callback(self._on_success)
        future.add_errback(self._on_error, topic)
        return future

    def _on_success(self, metadata) -> None:
        with self._lock:
            self._result.sent += 1
            self._advance(metadata)

    def _advance(self, metadata) -> None:
        tp = (metadata.topic, metadata.partition)
        self._result.next_offsets[tp] = max(self._result.next_offsets.get(tp, 0), metadata.offset + 1)

    def _on_error(self, exc: Exception, topic: str) -> None:
        with self._lock:
            self._result.errors.append(f"{topic}: {type(exc).__name__}: {exc}")

    def _on_unconfirmed_error(self, exc: Exception, topic: str) -> None:
        with self._lock:
            self._unconfirmed -= 1
            self._result.errors.append(f"{topic}: {type(exc).__name__}: {exc}")

    def flush(self, timeout: float | None = 120) -> PublishResult:
        """Wait for every acknowledgement; raise if any message was refused."""
        try:
            self._producer.flush(timeout)
        except KafkaError as e:
            raise PublishError(f"flush failed after {self._result.sent} acknowledged messages") from e
        self._confirm()
        if self._result.errors:
            raise PublishError(f"{len(self._result.errors)} messages refused; first: {self._result.errors[0]}")
        return self._result

    def _confirm(self) -> None:
        """Count the partition-aware sends, and take each partition's next offset from its last message.

        Messages of one partition are acknowledged in the order they were sent (the
        idempotent producer keeps it), so the last one holds the highest offset.
        """
        with self._lock:
            for future in self._last_sent.values():
                if future.succeeded():
                    self._advance(future.value)
            self._result.sent += self._unconfirmed  # less those refused (their errback took them off)
            self._unconfirmed = 0
            self._last_sent.clear()

    def close(self) -> None:
        self._producer.close()

    def __enter__(self) -> "Publisher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _event_ids(per_draw: int = 1024) -> Iterator[str]:
    """Random (version 4) UUIDs as text, drawn from the OS 16 KB at a time.

    ``uuid.uuid4()`` asks the OS for 16 bytes per id, and that call lets go of the
    GIL: with kafka-python's sender thread busy, each record then waited for it
    to come back. The same randomness, fetched in bulk, does not; its version and
    variant bits are set and it is written as hex once per draw, not once per id
    through ``uuid.UUID`` (a third of the time per id).

    >>> ids = _event_ids(per_draw=2)
    >>> drawn = [next(ids) for _ in range(5)]
    >>> len(set(drawn)), {uuid.UUID(i).version for i in drawn}, {uuid.UUID(i).variant for i in drawn}
    (5, {4}, {'specified in RFC 4122'})
    >>> all(str(uuid.UUID(i)) == i for i in drawn)  # the canonical text form
    True
    """
    size = 16 * per_draw
    keep = int.from_bytes(_UUID4_KEEP * per_draw, "big")
    bits = int.from_bytes(_UUID4_BITS * per_draw, "big")
    while True:
        pool = ((int.from_bytes(os.urandom(size), "big") & keep) | bits).to_bytes(size, "big").hex()
        for s in range(0, len(pool), 32):
            yield f"{pool[s:s + 8]}-{pool[s + 8:s + 12]}-{pool[s + 12:s + 16]}-{pool[s + 16:s + 20]}-{pool[s + 20:s + 32]}"


#: per 16 random bytes: the bits a version 4 UUID keeps, and its version (0100) and variant (10) bits
_UUID4_KEEP = bytes.fromhex("ffffffffffff0fff3fffffffffffffff")
_UUID4_BITS = bytes.fromhex("00000000000040008000000000000000")


def _reporting(items: Iterable[T], on_sent: Callable[[int], None] | None, every: int = 1000) -> Iterator[T]:
    """Yield the items, telling ``on_sent`` (a progress bar) every ``every`` items and at the end.

    >>> told = []
    >>> list(_reporting("abcde", told.append, every=2)), told
    (['a', 'b', 'c', 'd', 'e'], [2, 2, 1])
    """
    pending = 0
    for item in items:
        yield item
        pending += 1
        if on_sent and pending == every:
            on_sent(pending)
            pending = 0
    if on_sent and pending:
        on_sent(pending)


def publish_records(records: Iterable[Record], settings: KafkaSettings | None = None) -> PublishResult:
    """One call for a business system: publish these records and wait for the broker."""
    with Publisher(settings or KafkaSettings()) as publisher:
        return publisher.publish_records(records)
