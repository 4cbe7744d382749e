"""End to end: publish a registry and records with known errors through the real broker.

Every PASS lands exactly once in the intermediate-server sink, every HOLD is
in the review store and NOT in the sink, every malformed event is
dead-lettered with its reason; a worker killed with -9 mid-stream loses and
duplicates nothing, and its tables equal what was written to them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

import schemas
from guards import Record, Resident
from streams.events import record_to_event, resident_to_message
from streams.publish import Publisher
from streams.topics import names

from fixtures.losses import wait_for_verdicts
from fixtures.support import birth, my_number

pytestmark = pytest.mark.integration

DATABASES = pytest.mark.parametrize("pipeline_database", ["sqlite", "postgresql"], indirect=True)


def build_registry(n: int) -> list[Resident]:
    residents = [
        Resident(my_number(i), f"山田 太郎{i}", birth(1950 + i % 60), 1 + i % 2, f"高知市丸ノ内{i}-2-20")
        for i in range(1, n + 1)
    ]
    residents[0] = Resident(my_number(1), "山田 花子", birth(1980), 2, "高知市丸ノ内1-2-20",
                            previous_names=("佐藤 花子",), previous_my_numbers=(my_number(900_001),))
    residents[1] = Resident(my_number(2), "山田 次郎", birth(1940), 1, "高知市丸ノ内2-2-20",
                            status="死亡", status_date=dt.date(2024, 1, 5))
    return residents


def build_records(residents: list[Resident]) -> list[tuple[Record, str, str]]:
    """(record, expected outcome, expected reason codes) — the known errors."""
    def ok(r: Resident, rid: str, system: str = "shintai-techo", **kw) -> Record:
        return Record(system, rid, r.my_number, r.name, r.birth_date.isoformat(), str(r.sex), r.address, **kw)

    cases: list[tuple[Record, str, str]] = []
    for i, r in enumerate(residents[2:], start=3):
        system = ("shintai-techo", "jiritsu-shien", "jido-fuyo")[i % 3]
        cases.append((ok(r, f"OK-{i}", system), "PASS", ""))
    hanako, deceased, taro = residents[0], residents[1], residents[5]
    cases += [
        (Record("shintai-techo", "FORMER-NAME", hanako.my_number, "佐藤　花子", "昭和55年4月1日", "女",
                hanako.address), "PASS", "FORMER_NAME"),
        (Record("shintai-techo", "SPACED-NUMBER", " ".join([hanako.my_number[:4], hanako.my_number[4:8],
                hanako.my_number[8:]]), hanako.name, "S55.4.1", "2", hanako.address), "PASS", ""),
        (Record("jido-fuyo", "WRONG-PERSON", taro.my_number, "高橋 一郎", "1990-01-01", "1", taro.address),
         "HOLD", "IDENTITY_MISMATCH"),
        (Record("jido-fuyo", "TYPO", taro.my_number[:-1] + str((int(taro.my_number[-1]) + 1) % 10),
                taro.name, taro.birth_date.isoformat(), str(taro.sex), taro.address), "HOLD", "CHECK_DIGIT"),
        (Record("jido-fuyo", "UNKNOWN", my_number(800_000), "誰 か", "1990-01-01", "1", ""), "HOLD",
         "NOT_IN_REGISTRY"),
        (Record("jiritsu-shien", "OLD-NUMBER", my_number(900_001), hanako.name, "1980-04-01", "2",
                hanako.address), "HOLD", "NUMBER_SUPERSEDED"),
        (Record("jiritsu-shien", "DECEASED", deceased.my_number, deceased.name, "1940-04-01", "1",
                deceased.address), "HOLD", "DECEASED"),
        (Record("jiritsu-shien", "BAD-DATE", taro.my_number, taro.name, "昭和64年1月8日", "1", ""),
         "INVALID", "BAD_DATE"),
        (Record("jiritsu-shien", "LETTERS", "62149832025A", taro.name, "1990-01-01", "1", ""),
         "INVALID", "NUMBER_FORMAT"),
        (Record("jiritsu-shien", "NO-NAME", taro.my_number, "", "1990-01-01", "1", ""),
         "INVALID", "MISSING_FIELD"),
    ]
    return cases


def publish_records(h, cases) -> int:
    """Publish the records and three malformed events; return the verdicts expected."""
    codec = schemas.Codec()
    topic = names(h.settings)
    residents_for_wrong_schema = Resident(my_number(5), "x", birth(1990), 1, "x")
    with Publisher(h.settings) as publisher:
        publisher.publish_records([c[0] for c in cases])
        publisher.send_raw(topic.records, b"junk", b"\x00not avro")
        # Avro of the wrong schema: a Resident on the records topic
        publisher.send_raw(topic.records, b"wrong", codec.encode("resident", resident_to_message(residents_for_wrong_schema)))
        # a redelivered event (same event id, same content) must not duplicate anything
        event = record_to_event(cases[0][0], event_id="redelivered-1")
        raw = codec.encode("record_changed", event)
        publisher.send_raw(topic.records, b"dup", raw)
        publisher.send_raw(topic.records, b"dup", raw)
        publisher.flush()
    return len(cases) + 2  # the re-sent record and its duplicate collapse onto the record's one copy row


def assert_stores(h, cases) -> None:
    copies = {(r.system, r.record_id) for r in h.rows("SELECT system, record_id FROM intermediate_copies")}
    held = {(r.system, r.record_id): r for r in h.rows("SELECT system, record_id, reasons FROM held_records")}
    dead = h.rows("SELECT system, record_id, reason, error, source_topic, source_partition, source_offset "
                  "FROM dead_letters")
    # exactly once: primary keys make a duplicate impossible, so compare counts with the cases
    for record, outcome, reasons in cases:
        key = (record.system, record.record_id)
        if outcome == "PASS":
            assert key in copies, f"{key} passed but is not in the sink"
            assert key not in held
        elif outcome == "HOLD":
            assert key not in copies, f"{key} was held but reached the sink"
            assert key in held, f"{key} is not in the review store"
            codes = {f["code"] for f in _json(held[key].reasons)}
            assert reasons in codes, f"{key}: expected {reasons}, held for {codes}"
        else:
            assert key not in copies and key not in held
            letters = [d for d in dead if (d.system, d.record_id) == key]
            assert len(letters) == 1 and reasons in letters[0].reason, f"{key}: {letters}"
    passes = sum(1 for c in cases if c[1] == "PASS")
    assert len(copies) == passes
    assert len(held) == sum(1 for c in cases if c[1] == "HOLD")
    undecodable = [d for d in dead if d.reason == "UNDECODABLE"]
    assert len(undecodable) == 2
    assert all(d.source_topic.endswith("linkage.records") and d.source_offset >= 0 for d in undecodable)
    assert any("expected a record_changed" in d.error for d in undecodable)
    assert any("C3 01" in d.error for d in undecodable)


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


@DATABASES
def test_every_verdict_lands_in_its_store_exactly_once(harness):
    residents = build_registry(60)
    cases = build_records(residents)
    harness.start("worker", "worker")
    harness.start("sink", "sink")
    harness.load_registry(residents)
    expected = publish_records(harness, cases)
    harness.wait_until(lambda: harness.verdict_rows() >= expected, f"{expected} verdicts in the stores")
    # settle: nothing further may arrive (no duplicate, no late extra verdict)
    import time
    time.sleep(2)
    assert harness.verdict_rows() == expected
    assert_stores(harness, cases)
    first = cases[0][0]
    newest = harness.rows(f"SELECT event_id, version FROM intermediate_copies WHERE system = '{first.system}' "
                          f"AND record_id = '{first.record_id}'")
    assert newest[0].event_id == "redelivered-1", "the newer event of a record must win"


def registry_digest(residents: list[Resident]) -> dict[str, str]:
    """What the registry table must hold: every current and former number → resident bytes."""
    codec = schemas.Codec()
    expected = {}
    for r in residents:
        value = hashlib.sha256(codec.encode("resident", resident_to_message(r))).hexdigest()
        for key in (r.my_number, *r.previous_my_numbers):
            expected[hashlib.sha256(key.encode()).hexdigest()] = value
    return expected


@pytest.mark.slow
@pytest.mark.parametrize("pipeline_database", ["postgresql"], indirect=True)
def test_worker_killed_mid_stream_loses_and_duplicates_nothing(harness):
    residents = build_registry(3000)
    base = build_records(residents)
    # many more records so the kill lands mid-stream
    cases = base + [
        (Record("ryoiku-techo", f"BULK-{i}", r.my_number, r.name, r.birth_date.isoformat(), str(r.sex),
                r.address), "PASS", "")
        for i, r in enumerate(residents[10:2990])
    ]
    harness.start("sink", "sink")
    harness.start("worker", "worker")
    harness.load_registry(residents)
    expected = publish_records(harness, cases)
    harness.wait_until(lambda: harness.verdict_rows() >= 200, "the first verdicts")
    harness.kill("worker")
    before = harness.verdict_rows()
    assert before < expected, "the worker finished before the kill; the test proves nothing"
    harness.start("worker2", "worker")
    wait_for_verdicts(harness, cases, expected, f"{expected} verdicts after the restart")
    import time
    time.sleep(2)
    assert harness.verdict_rows() == expected
    assert_stores(harness, cases)
    # the restarted worker recovered its tables from the changelog: compare with what was written
    want = registry_digest(residents)
    harness.wait_until(lambda: harness.tables("worker2").get("registry") == want,
                       "the recovered registry table to equal what was published", timeout=60)
    links = harness.tables("worker2").get("links", {})
    linked = {hashlib.sha256(c[0].my_number.encode()).hexdigest() for c in cases
              if c[1] in ("PASS", "HOLD") and c[0].my_number.isdigit() and len(c[0].my_number) == 12
              and c[2] != "CHECK_DIGIT"}
    assert set(links) == linked
