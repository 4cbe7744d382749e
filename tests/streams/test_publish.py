"""The publishing SDK: what it puts on the topic, where, and what it reports back (on the local broker)."""

from __future__ import annotations

import datetime as dt
import uuid

import schemas
from guards import Record, Resident
from streams import topics
from streams.events import event_to_record, message_to_resident
from streams.publish import Publisher
from streams.settings import KafkaSettings
from fixtures.support import consume, my_number


def _settings(local_broker) -> KafkaSettings:
    settings = KafkaSettings(kafka_bootstrap=local_broker.bootstrap, local_mode=True, topic_partitions=4,
                             topic_prefix=f"pub{uuid.uuid4().hex[:8]}.")
    topics.ensure_topics(settings)
    return settings


def test_records_land_where_kafkas_own_partitioner_puts_them_and_the_result_counts_each(local_broker):
    settings = _settings(local_broker)
    names = topics.names(settings)
    records = [Record("shintai-techo", f"R-{n}", my_number(n), "山田 花子", "1980-04-01", "2",
                      payload={"等級": "1級"}) for n in range(1, 41)]
    with Publisher(settings) as publisher:
        first = publisher.publish_records(records[:25]).sent  # the result is cumulative: read it now
        result = publisher.publish_records(records[25:])
        # the same keys through kafka-python's default partitioner, to another topic
        probes = {publisher.send_raw(names.returned, topics.record_key(r.system, r.record_id), b"x"): r.record_id
                  for r in records}
        publisher.flush()
    by_default = {record_id: future.get().partition for future, record_id in probes.items()}

    messages = consume(names.records, local_broker.bootstrap, expected=len(records))
    codec = schemas.Codec()
    published = {}
    for message in messages:
        record = event_to_record(codec.decode("record_changed", message.value))
        assert message.key == topics.record_key(record.system, record.record_id)
        published[record.record_id] = (record, message.partition)
    assert {rid: record for rid, (record, _) in published.items()} == {r.record_id: r for r in records}
    assert {rid: partition for rid, (_, partition) in published.items()} == by_default
    assert first == 25 and result.sent == len(records) + len(probes)  # the probes included
    ends = {}
    for message in messages:
        tp = (message.topic, message.partition)
        ends[tp] = max(ends.get(tp, 0), message.offset + 1)
    assert {tp: n for tp, n in result.next_offsets.items() if tp[0] == names.records} == ends


def test_a_resident_is_published_under_each_of_its_numbers_and_every_offset_is_reported(local_broker):
    settings = _settings(local_broker)
    names = topics.names(settings)
    residents = [Resident(my_number(100 + n), f"住民 {n}", dt.date(1970, 1, 1 + n), 1 + n % 2, "高知市",
                          previous_my_numbers=(my_number(900 + n),) if n % 3 == 0 else ())
                 for n in range(12)]
    with Publisher(settings) as publisher:
        result = publisher.publish_residents(residents)
    keys = sum(1 + len(r.previous_my_numbers) for r in residents)
    messages = consume(names.residents, local_broker.bootstrap, expected=keys)
    codec = schemas.Codec()
    assert sorted((m.key.decode(), message_to_resident(codec.decode("resident", m.value)).my_number)
                  for m in messages) == sorted((k, r.my_number) for r in residents
                                               for k in (r.my_number, *r.previous_my_numbers))
    assert all(m.partition == topics.partition_for(m.key, 4) for m in messages)
    assert result.sent == keys
    assert sum(result.next_offsets.values()) == keys  # fresh topic: each partition's next offset is its count
