"""Bad input on the records topic never stops a worker and is never dropped.

Each malformed event reaches the dead-letter store with its reason and its
position (the topic, partition and offset the broker acknowledged when it was
published), and good records published after it on the same partitions pass.
"""

from __future__ import annotations

import time

import pytest

import schemas
from guards import Record
from streams import topics
from streams.events import record_to_event, resident_to_message
from streams.publish import Publisher

from integration.test_pipeline import build_registry
from fixtures.support import my_number

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FIVE_MB = 5 * 1024 * 1024


def good(r, rid: str, system: str = "shintai-techo") -> Record:
    return Record(system, rid, r.my_number, r.name, r.birth_date.isoformat(), str(r.sex), r.address)


def wrong_writer_schema_event() -> bytes:
    """Single-object Avro from a RecordChanged-like schema that lacks the required fields:
    its fingerprint is no version the guard knows, so it cannot be resolved."""
    import io

    import fastavro
    from fastavro.schema import fingerprint, to_parsing_canonical_form

    raw = {"type": "record", "name": "RecordChanged", "namespace": "jp.linkguard",
           "fields": [{"name": "event_id", "type": "string"}, {"name": "my_number", "type": "string"}]}
    fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(raw), "CRC-64-AVRO"))
    buffer = io.BytesIO()
    buffer.write(b"\xc3\x01" + fp)
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(raw), {"event_id": "e", "my_number": my_number(7)})
    return buffer.getvalue()


def bad_inputs(residents) -> list[tuple[str, bytes, bytes, str, str]]:
    """(label, key, value, expected reason, text the error must hold)."""
    codec = schemas.Codec()
    taro = residents[5]

    def event(record: Record, **changes) -> bytes:
        return codec.encode("record_changed", {**record_to_event(record), **changes})

    big = good(taro, "BIG-PAYLOAD")
    big = Record(big.system, big.record_id, big.my_number, big.name, big.birth_date, big.sex, big.address,
                 payload={"scan": "x" * FIVE_MB})
    return [
        ("not Avro", b"junk", b"\x00not avro at all", "UNDECODABLE", "C3 01"),
        ("Avro of the wrong schema", b"wrong",
         codec.encode("resident", resident_to_message(residents[4])), "UNDECODABLE", "expected a record_changed"),
        ("Avro of an unknown writer schema missing required fields", b"nofields",
         wrong_writer_schema_event(), "UNDECODABLE", "unknown schema fingerprint"),
        ("truncated Avro body", b"truncated", event(good(taro, "TRUNCATED"))[:14], "UNDECODABLE", "does not decode"),
        ("a valid event followed by 100,000 junk bytes", topics.record_key("shintai-techo", "TRAILING"),
         event(good(taro, "TRAILING")) + b"\x00junk" * 20_000, "UNDECODABLE", "100000 unexpected bytes"),
        ("a byte-order mark before the record id (two files joined)",
         topics.record_key("shintai-techo", "\ufeffBOM-ID"), event(good(taro, "\ufeffBOM-ID")),
         "BAD_IDENTIFIER", "U+FEFF"),
        ("required field empty: record id", topics.record_key("shintai-techo", ""),
         event(good(taro, "x"), record_id=""), "MISSING_FIELD", "record_id"),
        ("required field empty: system", topics.record_key("", "NO-SYSTEM"),
         event(good(taro, "NO-SYSTEM"), system=""), "MISSING_FIELD", "system"),
        ("required field empty: name", topics.record_key("shintai-techo", "NO-NAME"),
         event(good(taro, "NO-NAME"), name=""), "MISSING_FIELD", "name"),
        ("12 digits with a letter", topics.record_key("shintai-techo", "LETTERS"),
         event(good(taro, "LETTERS"), my_number=taro.my_number[:11] + "A"), "NUMBER_FORMAT", ""),
        ("a 5 MB payload", topics.record_key(big.system, big.record_id),
         event(big), "TOO_LARGE", "bytes"),
        ("unknown system code", topics.record_key("zz-unknown", "UNKNOWN-SYSTEM"),
         event(good(taro, "UNKNOWN-SYSTEM", system="zz-unknown")), "UNKNOWN_SYSTEM", "zz-unknown"),
        ("a date that never was: 昭和64年1月8日 (Heisei began that day)",
         topics.record_key("shintai-techo", "SHOWA-64"),
         event(good(taro, "SHOWA-64"), birth_date="昭和64年1月8日"), "BAD_DATE", "birth_date"),
    ]


@pytest.mark.parametrize("pipeline_database", ["postgresql"], indirect=True)
def test_each_bad_input_is_dead_lettered_with_reason_and_position_and_the_stream_goes_on(harness):
    residents = build_registry(200)
    before = [good(r, f"BEFORE-{i}") for i, r in enumerate(residents[10:40])]
    after = [good(r, f"AFTER-{i}", "jido-fuyo") for i, r in enumerate(residents[40:200])]
    bad = bad_inputs(residents)
    names = topics.names(harness.settings)
    partitions = harness.settings.topic_partitions
    # good records after the bad ones on every partition the bad ones land on
    assert {topics.partition_for(topics.record_key(r.system, r.record_id), partitions) for r in after} \
        == set(range(partitions))

    harness.start("worker", "worker")
    harness.start("sink", "sink")
    harness.load_registry(residents)
    with Publisher(harness.settings) as publisher:
        publisher.publish_records(before)
        futures = [publisher.send_raw(names.records, key, value) for _, key, value, _, _ in bad]
        publisher.flush()
        positions = [f.get(timeout=30) for f in futures]
        publisher.publish_records(after)

    expected = len(before) + len(after) + len(bad)
    harness.wait_until(lambda: harness.verdict_rows() >= expected, f"{expected} verdicts and dead letters",
                       timeout=240)
    time.sleep(2)  # nothing further may arrive
    assert harness.verdict_rows() == expected

    copies = {r.record_id for r in harness.rows("SELECT record_id FROM intermediate_copies")}
    assert copies == {r.record_id for r in before + after}, "good records before and after must all pass"
    assert harness.scalar("SELECT COUNT(*) FROM held_records") == 0
    letters = {(d.source_partition, d.source_offset): d for d in harness.rows(
        "SELECT source_topic, source_partition, source_offset, reason, error, stage, raw_value "
        "FROM dead_letters")}
    assert len(letters) == len(bad)
    for (label, _, value, reason, text), meta in zip(bad, positions):
        letter = letters.get((meta.partition, meta.offset))
        assert letter is not None, f"{label}: no dead letter at {meta.topic}[{meta.partition}]@{meta.offset}"
        assert letter.source_topic == names.records, label
        assert reason in letter.reason.split(";"), f"{label}: dead-lettered as {letter.reason}: {letter.error}"
        assert text in letter.error, f"{label}: error {letter.error!r} does not say {text!r}"
        if len(value) <= harness.settings.max_record_bytes:
            assert bytes(letter.raw_value) == value, f"{label}: the dead letter must keep the bytes for replay"
        else:  # too large to copy onward: the position names it
            assert letter.raw_value is None
    harness.check_alive()

