"""The local broker, the partitioning rule, and the end-offset work-around, on the real broker."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams.faust_fixes.tansu import true_end_offsets
from streams.settings import KafkaSettings
from streams.topics import ensure_topics, names, partition_for
from fixtures.support import my_number

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(local_broker):
    run = uuid.uuid4().hex[:8]
    s = KafkaSettings(kafka_bootstrap=local_broker.bootstrap, local_mode=True, topic_prefix=f"q{run}.",
                      topic_partitions=3)
    ensure_topics(s)
    return s


def test_our_partitioning_rule_is_the_one_kafka_python_publishes_with(settings):
    topic = names(settings).residents
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        for i in range(1, 40):
            key = my_number(i).encode()
            metadata = producer.send(topic, key=key, value=b"x").get(10)
            assert metadata.partition == partition_for(key, 3)
    finally:
        producer.close()


def test_true_end_offsets_count_every_message_of_the_last_batch(settings):
    """Tansu answers 'latest' with the first offset of the newest batch + 1; a fetch is right."""
    topic = names(settings).records
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=200, batch_size=1 << 20)
    for i in range(25):  # one batch of 25 records in partition 0
        producer.send(topic, value=b"m%d" % i, partition=0)
    producer.flush()
    producer.close()
    tp = TopicPartition(topic, 0)
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    reported = consumer.end_offsets([tp])[tp]
    consumer.close()
    fixed = true_end_offsets(settings, {(topic, 0): reported})
    assert fixed[(topic, 0)] == 25
    if reported != 25:  # the quirk is present on this broker: say so in the test log
        print(f"local broker quirk seen: ListOffsets(latest) said {reported}, the fetch said 25")


def test_ensure_topics_is_idempotent(settings):
    ensure_topics(settings)
    ensure_topics(settings)
