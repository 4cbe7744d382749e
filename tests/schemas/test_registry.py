"""The Confluent Schema Registry framing, with confluent-kafka's own serializers and its in-process ``mock://`` registry.

A record produced by confluent-kafka's ``AvroSerializer`` is read by the guard's
codec; a verdict written by the guard's codec is read by confluent-kafka's
``AvroDeserializer``; readers take both framings whatever they write.
"""

from __future__ import annotations

import json

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

import schemas
from fixtures.support import birth, my_number
from guards import Outcome, Reason, Record, Resident, Verdict
from guards.model import Finding
from schemas.registry import RegistryFraming, schema_id
from streams.events import record_to_event, verdict_message

RECORDS = SerializationContext("linkage.records", MessageField.VALUE)
VERIFIED = SerializationContext("linkage.verified", MessageField.VALUE)


@pytest.fixture
def registry():
    """One in-process registry shared by the guard's codec and confluent-kafka's serializers."""
    return SchemaRegistryClient.new_client({"url": "mock://linkguard-test"})


@pytest.fixture
def codec(registry) -> schemas.Codec:
    return schemas.Codec(registry=RegistryFraming(registry))


def event(record_id: str = "R-1") -> dict:
    return record_to_event(Record("shintai-techo", record_id, my_number(1), "山田 花子", "1980-04-01", "2", "高知市"))


def test_a_record_from_confluent_kafkas_avro_serializer_is_read_by_the_guard(registry, codec):
    schema_str = schemas.latest("record_changed").path.read_text(encoding="utf-8")
    serializer = AvroSerializer(registry, schema_str)
    data = serializer(event(), RECORDS)
    assert data[:1] == b"\x00"  # Confluent framing: magic 0 + schema id
    decoded = codec.decode("record_changed", data)
    assert (decoded["record_id"], decoded["my_number"], decoded["name"]) == ("R-1", my_number(1), "山田 花子")


def test_a_verdict_written_by_the_guard_is_read_by_confluent_kafkas_avro_deserializer(registry, codec):
    resident = Resident(my_number(1), "山田 花子", birth(1980), 2, "高知市")
    verdict = Verdict(Outcome.HOLD, (Finding(Reason.IDENTITY_MISMATCH, "name differs"),))
    message = verdict_message(event(), verdict, version=3, registry_person=resident)
    data = codec.encode("verdict", message)
    assert data[:1] == b"\x00"
    assert json.loads(registry.get_schema(schema_id(data)).schema_str) == schemas.latest("verdict").raw
    read = AvroDeserializer(registry)(data, VERIFIED)
    assert read["outcome"] == "HOLD" and read["version"] == 3
    assert read["record"]["record_id"] == "R-1" and read["registry_person"]["name"] == "山田 花子"
    assert [r["code"] for r in read["reasons"]] == ["IDENTITY_MISMATCH"]


def test_every_schema_version_is_registered_under_its_topics_subjects(registry, codec):
    codec.encode("verdict", verdict_message(event(), Verdict(Outcome.PASS), version=1))
    stored = len(schemas.versions("verdict"))
    for topic in ("linkage.verified", "linkage.held", "linkage.retracted"):
        assert sorted(registry.get_versions(f"{topic}-value")) == list(range(1, stored + 1))
        assert json.loads(registry.get_latest_version(f"{topic}-value").schema.schema_str) == schemas.latest("verdict").raw


def test_readers_take_both_framings_whatever_they_write(registry, codec):
    single_object = schemas.Codec(registry=None)
    plain = single_object.encode("record_changed", event("PLAIN"))
    framed = codec.encode("record_changed", event("FRAMED"))
    assert plain[:2] == b"\xc3\x01" and framed[:1] == b"\x00"
    assert codec.decode("record_changed", plain)["record_id"] == "PLAIN"  # registry set: single-object still read
    assert codec.decode("record_changed", framed)["record_id"] == "FRAMED"
    with pytest.raises(schemas.DecodeError, match="LINKGUARD_SCHEMA_REGISTRY_URL"):
        single_object.decode("record_changed", framed)  # no registry to look the id up: a clear dead-letter reason


def test_a_compatible_schema_registered_by_someone_else_is_resolved_to_ours(registry, codec):
    theirs = json.loads(schemas.latest("record_changed").path.read_text(encoding="utf-8"))
    theirs["fields"].append({"name": "source_app", "type": "string", "default": ""})  # their own extra field
    data = AvroSerializer(registry, json.dumps(theirs))({**event(), "source_app": "kintone"}, RECORDS)
    decoded = codec.decode("record_changed", data)
    assert decoded["record_id"] == "R-1" and "source_app" not in decoded


def test_a_framed_message_of_another_type_or_with_trailing_bytes_is_refused(registry, codec):
    data = codec.encode("record_changed", event())
    with pytest.raises(schemas.DecodeError, match="expected a verdict"):
        codec.decode("verdict", data)
    with pytest.raises(schemas.DecodeError, match="followed by 4 unexpected bytes"):
        codec.decode("record_changed", data + b"junk")


def test_the_environment_variable_turns_the_framing_on(monkeypatch):
    monkeypatch.setenv("LINKGUARD_SCHEMA_REGISTRY_URL", "mock://from-environment")
    monkeypatch.setenv("LINKGUARD_TOPIC_PREFIX", "kochi.")
    codec = schemas.Codec()
    data = codec.encode("record_changed", event())
    assert data[:1] == b"\x00" and codec.decode("record_changed", data)["record_id"] == "R-1"
    assert codec.registry.client.get_subjects() == ["kochi.linkage.records-value"]
    monkeypatch.delenv("LINKGUARD_SCHEMA_REGISTRY_URL")
    assert schemas.Codec().encode("record_changed", event())[:2] == b"\xc3\x01"
