"""Verdict versions never saturate where it matters: many re-judgements of one event still end right in the sink.

Every stop/resume of a process (連携停止) judges each of its records again: two
new verdicts of the same event. When the revision part of the version was
capped at 16, the 8th pair onwards produced verdicts with the same version, and
the sink (which keeps strictly newer versions only) could keep a live copy of a
record whose current verdict is a HOLD — a copy of a stopped process left on the
intermediate server. Through the in-memory driver, into a real sink (SQLite).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from guards import Record, Resident
from sinks import SinkMessage, SinkWriter, make_engine
from sinks.models import HeldRecord, IntermediateCopy
from streams.stages.base import version_of
from streams.testing import TopologyDriver

from fixtures.support import birth, my_number

HANAKO = Resident(my_number(1001), "山田 花子", birth(1980), 2, "高知市本町1-1")
SYSTEM = "shintai-techo"
#: stop/resume pairs: far past the old cap of 16 number-stage revisions (8 pairs)
PAIRS = 12


def _verdicts(driver: TopologyDriver) -> list[SinkMessage]:
    out = []
    for kind, topic in (("verified", driver.names.verified), ("held", driver.names.held)):
        for m in driver.messages(topic):
            out.append(SinkMessage(topic=topic, partition=m.partition, offset=m.offset, kind=kind,
                                   payload=driver.codec.decode("verdict", m.value), raw=m.value))
    return out


def _sink_state(tmp_path, messages: list[SinkMessage], name: str) -> tuple[IntermediateCopy, HeldRecord]:
    engine = make_engine(f"sqlite:///{tmp_path / name}")
    try:
        writer = SinkWriter(engine)
        writer.create_schema()
        for message in messages:  # one at a time: every arrival order the sink may see is one of these
            writer.apply("sink", [message])
        copy, held = writer.copy(SYSTEM, "T-1"), writer.held(SYSTEM, "T-1")
        assert copy is not None and held is not None
        return copy, held
    finally:
        engine.dispose()


@pytest.mark.parametrize("end_stopped", [True, False])
def test_an_event_judged_again_many_times_ends_right_in_the_sink(tmp_path, end_stopped: bool) -> None:
    good = Record(SYSTEM, "T-1", HANAKO.my_number, "山田 花子", "1980-04-01", "2", "高知市本町1-1")
    driver = TopologyDriver(partitions=3, seed=8)
    driver.publish_residents([HANAKO])
    driver.run()
    driver.publish_records([good])
    driver.run()
    for _ in range(PAIRS):
        driver.control_process(SYSTEM, stopped=True)
        driver.run()
        driver.control_process(SYSTEM, stopped=False)
        driver.run()
    if end_stopped:
        driver.control_process(SYSTEM, stopped=True)
        driver.run()

    messages = [m for m in _verdicts(driver) if m.payload["record"]["record_id"] == "T-1"]
    versions = [int(m.payload["version"]) for m in messages]
    assert len(messages) >= 2 * PAIRS + 1
    assert len(set(versions)) == len(versions), "two judgements of one event share a version"
    newest = max(messages, key=lambda m: int(m.payload["version"]))
    assert newest.payload["outcome"] == ("HOLD" if end_stopped else "PASS")

    for order, arrival in (("in order", sorted(messages, key=lambda m: int(m.payload["version"]))),
                           ("passes last", sorted(messages, key=lambda m: m.kind == "verified")),
                           ("holds last", sorted(messages, key=lambda m: m.kind == "held"))):
        copy, held = _sink_state(tmp_path, arrival, f"{order}-{end_stopped}.sqlite")
        if end_stopped:  # the process is stopped: no live copy, the hold is open
            assert copy.withdrawn and copy.withdrawn_reason == "stopped", order
            assert held.status == "open" and "LINKAGE_STOPPED" in held.reason_codes, order
        else:
            assert not copy.withdrawn and held.status == "superseded", order


def test_the_version_parts_keep_their_order_far_past_the_old_caps() -> None:
    assert version_of(7, 1000) < version_of(7, 1001) < version_of(8)
    assert version_of(7, 3, 400) < version_of(7, 3, 401) < version_of(7, 4)
    assert version_of(7, 3, 5, 30) < version_of(7, 3, 5, 31) < version_of(7, 3, 6)
    assert version_of(2 ** 38, 1023, 511, 31) < 2 ** 63  # an Avro long, a BIGINT
