"""A Kafka client nobody here wrote talks to the guard: confluent-kafka (librdkafka).

A business system that uses the Confluent clients encodes a RecordChanged event
with fastavro from the ``.avsc`` file alone (the Avro single-object encoding:
``C3 01``, the schema's CRC-64-AVRO fingerprint, the body) and publishes it with
confluent-kafka's Producer; it reads the verdicts on ``linkage.verified`` with
confluent-kafka's Consumer. The right record reaches the intermediate-server
sink, the wrong one is held.

librdkafka's default group session (45 s) makes the first join on the local
broker take over 20 s; ``session.timeout.ms=6000`` is what a consumer of the
local broker should set (README, "Kafka clients in other languages").
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from pathlib import Path

import confluent_kafka
import fastavro
import pytest
from fastavro.schema import fingerprint, to_parsing_canonical_form

from fixtures.support import birth, my_number
from guards import Resident
from streams.topics import names, record_key

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
SYSTEM = "shintai-techo"


def newest_schema(name: str) -> dict:
    """The newest ``schemas/<name>/v<N>.avsc``, read as a business system would: the file alone."""
    path = max((SCHEMAS / name).glob("v*.avsc"), key=lambda p: int(p.stem[1:]))
    return json.loads(path.read_text(encoding="utf-8"))


def single_object(schema: dict, record: dict) -> bytes:
    """Avro single-object encoding: C3 01, the 8-byte little-endian CRC-64-AVRO fingerprint, the body."""
    out = io.BytesIO()
    out.write(b"\xc3\x01" + bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO")))
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return out.getvalue()


def read_single_object(schemas_by_fingerprint: dict[bytes, dict], data: bytes) -> dict:
    assert data[:2] == b"\xc3\x01", "a verdict is single-object encoded"
    writer = schemas_by_fingerprint[data[2:10]]
    return fastavro.schemaless_reader(io.BytesIO(data[10:]), fastavro.parse_schema(writer))


def event(record_id: str, resident: Resident, *, name: str | None = None) -> dict:
    return {"event_id": str(uuid.uuid4()), "system": SYSTEM, "record_id": record_id, "operation": "create",
            "occurred_at": dt.datetime.now(dt.timezone.utc), "my_number": resident.my_number,
            "name": name or resident.name, "birth_date": resident.birth_date.isoformat(),
            "sex": str(resident.sex), "address": resident.address}


def test_confluent_kafka_publishes_records_and_reads_verdicts(harness):
    residents = [Resident(my_number(1), "山田 花子", birth(1980), 2, "高知市丸ノ内1-2-20"),
                 Resident(my_number(2), "高橋 一郎", birth(1975), 1, "高知市本町3-1-1")]
    harness.start("worker", "worker")
    harness.start("sink", "sink")
    harness.load_registry(residents)
    topic = names(harness.settings)
    bootstrap = harness.settings.kafka_bootstrap

    record_changed = newest_schema("record_changed")
    right = event("FOREIGN-RIGHT", residents[0])
    wrong = event("FOREIGN-WRONG", residents[1], name="佐藤 次郎")  # someone else's number
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                         "enable.idempotence": True})
    delivered = []
    for value in (right, wrong):
        producer.produce(topic.records, key=record_key(SYSTEM, value["record_id"]),
                         value=single_object(record_changed, value),
                         on_delivery=lambda error, message: delivered.append(error))
    assert producer.flush(30) == 0 and delivered == [None, None]

    harness.wait_until(lambda: harness.scalar("SELECT COUNT(*) FROM intermediate_copies")
                       + harness.scalar("SELECT COUNT(*) FROM held_records") >= 2, "both verdicts in the stores")
    copies = harness.rows("SELECT record_id, my_number, via FROM intermediate_copies")
    held = harness.rows("SELECT record_id FROM held_records")
    assert [(c.record_id, c.my_number, c.via) for c in copies] == [("FOREIGN-RIGHT", residents[0].my_number, "guard")]
    assert [h.record_id for h in held] == ["FOREIGN-WRONG"]

    verdict_schemas = {}
    for path in sorted((SCHEMAS / "verdict").glob("v*.avsc")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        verdict_schemas[bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))] = schema
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": f"foreign-{uuid.uuid4().hex[:8]}",
                                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                         "session.timeout.ms": 6000})  # librdkafka's 45 s default joins slowly
    try:
        consumer.subscribe([topic.verified])
        verdicts = []
        for _ in range(60):
            message = consumer.poll(1.0)
            if message is None:
                continue
            assert message.error() is None, message.error()
            verdicts.append(read_single_object(verdict_schemas, message.value()))
            if verdicts:
                break
    finally:
        consumer.close()
    assert [(v["record"]["record_id"], v["outcome"]) for v in verdicts] == [("FOREIGN-RIGHT", "PASS")]
