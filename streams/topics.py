"""Topic names, the partitioning rule, and topic creation.

Every linkage topic has the same number of partitions, so that the guard's
repartitioned records, the registry and the guard's tables are co-partitioned:
partition ``p`` of each lands on the same worker.
"""

from __future__ import annotations

import logging

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

from streams.settings import KafkaSettings

log = logging.getLogger(__name__)

RECORDS = "linkage.records"
RESIDENTS = "registry.residents"
BY_NUMBER = "linkage.records-by-number"
VERIFIED = "linkage.verified"
HELD = "linkage.held"
DLQ = "linkage.dlq"

ALL = (RECORDS, RESIDENTS, BY_NUMBER, VERIFIED, HELD, DLQ)
COMPACTED = frozenset({RESIDENTS})


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) gives ``key``.

    The same rule as the Java client and kafka-python, so a record routed here
    meets the registry entry that kafka-python published under the same key.

    >>> partition_for(b'621498320257', 4) == partition_for(b'621498320257', 4)
    True
    >>> 0 <= partition_for(b'x', 3) < 3
    True
    """
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def record_key(system: str, record_id: str) -> bytes:
    """Key of a published record: per-record ordering within one partition."""
    return f"{system}\x1f{record_id}".encode()


def ensure_topics(settings: KafkaSettings, names: tuple[str, ...] = ALL) -> None:
    """Create the linkage topics if they do not exist (idempotent)."""
    admin = KafkaAdminClient(**settings.kafka_python_config())
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                name, settings.topic_partitions, settings.topic_replication,
                topic_configs={"cleanup.policy": "compact"} if name in COMPACTED else {},
            )
            for name in names if name not in existing
        ]
        if wanted:
            try:
                admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
            log.info("created topics %s", ", ".join(t.name for t in wanted))
    finally:
        admin.close()
