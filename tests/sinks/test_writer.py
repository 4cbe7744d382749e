"""The sink contract on SQLite and PostgreSQL: idempotent, versioned, position with the rows."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from sinks import SinkWriter
from sinks.models import ConsumedOffset

from .conftest import DLQ, HELD, NUMBER, RECORDS, SYSTEM, VERIFIED, Messages, valid_number


def test_pass_writes_the_copy_as_verified(writer: SinkWriter, make: Messages) -> None:
    message = make.passed("r1", 10, payload={"等級": "1級"})
    result = writer.apply("sink", [message])

    assert (result.received, result.skipped, result.copies) == (1, 0, 1)
    copy = writer.copy(SYSTEM, "r1")
    assert copy is not None
    record = message.payload["record"]
    assert (copy.my_number, copy.name, copy.birth_date, copy.sex, copy.address, copy.atena_no) == (
        NUMBER, "山田 花子", "1980-04-01", "2", record["address"], "000123")
    assert copy.payload == {"等級": "1級"}
    assert (copy.event_id, copy.version, copy.via) == (message.payload["event_id"], 10, "guard")
    assert copy.verified_at == message.payload["checked_at"]
    assert copy.verified_at.tzinfo is not None
    assert copy.withdrawn_at is None and copy.withdrawn_reason is None
    assert NUMBER not in repr(copy)
    assert writer.held(SYSTEM, "r1") is None


def test_redelivered_batch_changes_nothing(writer: SinkWriter, make: Messages, snapshot) -> None:
    batch = [make.passed("r1", 1), make.passed("r2", 2), make.held("r3", 3),
             make.dead(4, record_id="r4"), make.passed("r1", 5, partition=1)]
    first = writer.apply("sink", batch)
    before = snapshot()
    positions = writer.positions("sink", [VERIFIED, HELD, DLQ])

    again = writer.apply("sink", batch)

    assert (first.skipped, again.skipped) == (0, len(batch))
    assert (again.copies, again.held, again.dead_letters, again.superseded) == (0, 0, 0, 0)
    assert snapshot() == before
    assert writer.positions("sink", [VERIFIED, HELD, DLQ]) == positions == {
        (VERIFIED, 0): 2, (VERIFIED, 1): 1, (HELD, 0): 1, (DLQ, 0): 1}
    assert writer.counts() == {"copies": 2, "withdrawn": 0, "held_open": 1, "held_superseded": 0,
                               "held_released": 0, "held_corrected": 0, "held_returned": 0,
                               "dead_letters": 1}


def test_republished_verdicts_at_new_offsets_are_the_same_events(writer: SinkWriter, make: Messages,
                                                                 snapshot) -> None:
    """The guard re-emits after its own restart: same versions at later offsets change no rows."""
    batch = [make.passed("r1", 1), make.held("r2", 2), make.dead(3)]
    writer.apply("sink", batch)
    rows = {name: rows for name, rows in snapshot().items() if name != "consumed_offsets"}

    replay = [make.message(m.kind, m.topic, dict(m.payload)) for m in batch]  # next offsets, same payloads
    result = writer.apply("sink", replay)

    assert result.skipped == 0
    assert (result.copies, result.held, result.dead_letters) == (0, 0, 0)
    assert {name: r for name, r in snapshot().items() if name != "consumed_offsets"} == rows
    assert result.positions == {(VERIFIED, 0): 2, (HELD, 0): 2, (DLQ, 0): 2}


def test_equal_version_keeps_the_first_write(writer: SinkWriter, make: Messages) -> None:
    first = make.passed("r1", 7, name="山田 花子")
    writer.apply("sink", [first])
    writer.apply("sink", [make.passed("r1", 7, name="別人")])  # a re-check of the same event
    copy = writer.copy(SYSTEM, "r1")
    assert (copy.name, copy.event_id) == ("山田 花子", first.payload["event_id"])


@pytest.mark.parametrize("order", ["newer first", "older first", "one batch, newer first",
                                   "one batch, older first"])
def test_older_version_never_overwrites_newer(writer: SinkWriter, make: Messages, order: str) -> None:
    """A corrected number moves a record to another guard partition: its verdicts may cross."""
    newer = make.passed("r1", 20, partition=1, my_number=valid_number(2))
    older = make.passed("r1", 12, partition=0, my_number=valid_number(1))
    sequence = [newer, older] if "newer first" in order else [older, newer]
    if order.startswith("one batch"):
        writer.apply("sink", sequence)
    else:
        for message in sequence:
            writer.apply("sink", [message])

    copy = writer.copy(SYSTEM, "r1")
    assert (copy.version, copy.my_number) == (20, valid_number(2))
    assert writer.positions("sink", [VERIFIED]) == {(VERIFIED, 0): 1, (VERIFIED, 1): 1}
    assert writer.counts()["copies"] == 1


def test_hold_then_newer_pass_supersedes_the_hold(writer: SinkWriter, make: Messages) -> None:
    hold = make.held("r1", 3, suggested_my_number=valid_number(5),
                     reasons=[{"code": "IDENTITY_MISMATCH", "detail": "name"},
                              {"code": "ADDRESS_MISMATCH", "detail": ""}])
    writer.apply("sink", [hold])
    held = writer.held(SYSTEM, "r1")
    assert (held.status, held.version, held.suggested_my_number) == ("open", 3, valid_number(5))
    assert held.reasons == [{"code": "IDENTITY_MISMATCH", "detail": "name"},
                            {"code": "ADDRESS_MISMATCH", "detail": ""}]
    assert held.record["record_id"] == "r1" and held.record["occurred_at"].startswith("2026-04-01T")
    assert held.held_at == hold.payload["checked_at"]
    assert writer.held_by_reason() == {"IDENTITY_MISMATCH": 1, "ADDRESS_MISMATCH": 1}
    assert writer.copy(SYSTEM, "r1") is None

    result = writer.apply("sink", [make.passed("r1", 8, my_number=valid_number(5))])

    assert (result.copies, result.superseded) == (1, 1)
    held = writer.held(SYSTEM, "r1")
    assert (held.status, held.version) == ("superseded", 3)
    assert held.updated_at >= held.held_at
    assert writer.copy(SYSTEM, "r1").version == 8
    assert writer.held_by_reason() == {}
    counts = writer.counts()
    assert (counts["copies"], counts["held_open"], counts["held_superseded"]) == (1, 0, 1)


def test_pass_and_newer_hold_in_one_batch_keep_the_hold_open(writer: SinkWriter, make: Messages) -> None:
    """A newer HOLD is not overtaken by an older PASS; the older copy stays as registered."""
    writer.apply("sink", [make.passed("r1", 4), make.held("r1", 6)])
    assert writer.held(SYSTEM, "r1").status == "open"
    assert writer.copy(SYSTEM, "r1").version == 4


def test_older_hold_never_reopens_a_newer_copy(writer: SinkWriter, make: Messages) -> None:
    writer.apply("sink", [make.passed("r1", 9)])
    result = writer.apply("sink", [make.held("r1", 5)])  # late: the record was fixed since
    held = writer.held(SYSTEM, "r1")
    assert (held.status, held.version) == ("superseded", 5)  # kept for the record, not in the queue
    assert result.superseded == 1
    assert writer.counts()["held_open"] == 0
    assert writer.copy(SYSTEM, "r1").version == 9


def test_older_hold_never_replaces_a_newer_hold(writer: SinkWriter, make: Messages) -> None:
    writer.apply("sink", [make.held("r1", 9, reasons=[{"code": "DECEASED", "detail": ""}], partition=1)])
    writer.apply("sink", [make.held("r1", 5, partition=0)])
    held = writer.held(SYSTEM, "r1")
    assert (held.version, held.reason_codes, held.status) == (9, ["DECEASED"], "open")


def test_hold_after_supersede_with_newer_version_reopens(writer: SinkWriter, make: Messages) -> None:
    writer.apply("sink", [make.held("r1", 1), make.passed("r1", 2)])
    assert writer.held(SYSTEM, "r1").status == "superseded"
    writer.apply("sink", [make.held("r1", 3)])  # a later change is suspicious again
    assert writer.held(SYSTEM, "r1").status == "open"
    assert writer.copy(SYSTEM, "r1").version == 2


def test_delete_withdraws_the_copy(writer: SinkWriter, make: Messages) -> None:
    writer.apply("sink", [make.passed("r1", 1, payload={"等級": "2級"})])
    result = writer.apply("sink", [make.passed("r1", 2, operation="delete", my_number="", payload={})])

    assert result.withdrawn == 1
    copy = writer.copy(SYSTEM, "r1")
    assert copy.withdrawn and copy.withdrawn_reason == "deleted" and copy.version == 2
    assert (copy.my_number, copy.payload) == (NUMBER, {"等級": "2級"})  # what was registered stays known
    counts = writer.counts()
    assert (counts["copies"], counts["withdrawn"]) == (0, 1)


def test_delete_before_create_leaves_a_withdrawn_tombstone(writer: SinkWriter, make: Messages) -> None:
    writer.apply("sink", [make.passed("r1", 30, operation="delete", partition=1)])
    writer.apply("sink", [make.passed("r1", 10, partition=0)])  # the late create cannot revive it
    copy = writer.copy(SYSTEM, "r1")
    assert copy.withdrawn and copy.version == 30

    writer.apply("sink", [make.passed("r1", 40, partition=1)])  # re-created later: live again
    copy = writer.copy(SYSTEM, "r1")
    assert not copy.withdrawn and copy.withdrawn_reason is None and copy.version == 40


def test_delete_supersedes_an_open_hold(writer: SinkWriter, make: Messages) -> None:
    writer.apply("sink", [make.held("r1", 1), make.passed("r1", 2, operation="delete")])
    assert writer.held(SYSTEM, "r1").status == "superseded"


def test_dead_letters_are_idempotent_on_source_position(writer: SinkWriter, make: Messages) -> None:
    letter = make.dead(41, source_partition=2, reason="BAD_DATE;BAD_SEX", record_id="r9",
                       value=b"\xc3\x01raw", key=b"shintai-techo\x1fr9")
    writer.apply("sink", [letter])
    # the guard restarted and dead-lettered the same record again, at a new DLQ offset
    again = make.message("dead_letter", DLQ, dict(letter.payload))
    other_stage = make.dead(41, source_partition=2, stage="registry")
    result = writer.apply("sink", [again, other_stage])

    assert result.dead_letters == 1
    letters = writer.dead_letters(limit=10)
    assert [(d.source_topic, d.source_partition, d.source_offset, d.stage) for d in letters] == [
        (RECORDS, 2, 41, "guard"), (RECORDS, 2, 41, "registry")]
    first = letters[0]
    assert (first.reason, first.error, first.system, first.record_id) == (
        "BAD_DATE;BAD_SEX", "BAD_DATE(birth_date)", SYSTEM, "r9")
    assert (first.raw_key, first.raw_value) == (b"shintai-techo\x1fr9", b"\xc3\x01raw")
    assert first.failed_at == letter.payload["failed_at"] and first.replayed_at is None
    assert [d.id for d in writer.dead_letters(limit=1)] == [first.id]
    assert writer.dead_letters_by_reason() == {"BAD_DATE;BAD_SEX": 1, "BAD_DATE": 1}


def test_a_number_in_a_dead_letter_error_is_masked(writer: SinkWriter, make: Messages) -> None:
    writer.apply("sink", [make.dead(1, error=f"guard bug printed {NUMBER}")])
    assert NUMBER not in writer.dead_letters()[0].error


def test_a_verdict_on_the_wrong_topic_never_becomes_a_copy(writer: SinkWriter, make: Messages) -> None:
    """The invariant: only PASS reaches the copies, whatever a producer bug puts on the topic."""
    hold_on_verified = make.message("verified", VERIFIED, make.verdict("r1", 5, outcome="HOLD"))
    pass_on_held = make.message("held", HELD, make.verdict("r2", 5, outcome="PASS"))
    result = writer.apply("sink", [hold_on_verified, pass_on_held])

    assert (result.copies, result.held, result.rejected, result.dead_letters) == (0, 0, 2, 2)
    assert writer.copy(SYSTEM, "r1") is None and writer.held(SYSTEM, "r2") is None
    letters = writer.dead_letters()
    assert {(d.source_topic, d.stage, d.reason, d.record_id) for d in letters} == {
        (VERIFIED, "sink", "OUTCOME_MISMATCH", "r1"), (HELD, "sink", "OUTCOME_MISMATCH", "r2")}
    assert letters[0].raw_value in (hold_on_verified.raw, pass_on_held.raw)
    assert writer.positions("sink", [VERIFIED, HELD]) == {(VERIFIED, 0): 1, (HELD, 0): 1}


def test_positions_advance_and_never_go_backwards(writer: SinkWriter, make: Messages) -> None:
    assert writer.positions("sink", [VERIFIED]) == {}
    batch = [make.passed(f"r{i}", i) for i in range(10)]
    assert writer.apply("sink", batch).positions == {(VERIFIED, 0): 10}

    # the consumer was sought back (a rebalance to a stale commit): nothing re-applied, nothing moves
    result = writer.apply("sink", batch[3:6])
    assert (result.skipped, result.positions) == (3, {(VERIFIED, 0): 10})
    assert writer.positions("sink", [VERIFIED]) == {(VERIFIED, 0): 10}

    # a batch straddling the position applies only what is new
    tail = batch[8:] + [make.passed("r10", 10), make.passed("r11", 11)]
    result = writer.apply("sink", tail)
    assert (result.skipped, result.copies, result.positions) == (2, 2, {(VERIFIED, 0): 12})

    # a gap (compaction, or a skipped poison message) moves the position past it
    assert writer.apply("sink", [make.passed("r20", 20, offset=20)]).positions == {(VERIFIED, 0): 21}
    assert writer.positions("sink", [VERIFIED, HELD]) == {(VERIFIED, 0): 21}


def test_positions_are_per_consumer(writer: SinkWriter, make: Messages) -> None:
    batch = [make.passed("r1", 1), make.passed("r2", 2)]
    writer.apply("sink", batch)
    result = writer.apply("audit", batch)  # another consumer of the same topic starts at its own position
    assert result.skipped == 0
    assert writer.positions("audit", [VERIFIED]) == {(VERIFIED, 0): 2}
    assert writer.counts()["copies"] == 2


def test_empty_batch_does_nothing(writer: SinkWriter, snapshot) -> None:
    before = snapshot()
    assert writer.apply("sink", []).received == 0
    assert snapshot() == before


def test_two_writers_racing_on_one_batch_end_in_one_state(writer: SinkWriter, make: Messages,
                                                          engine_factory, snapshot) -> None:
    """A zombie consumer after a rebalance applies the same batch concurrently: still one state."""
    batch = [make.passed(f"r{i}", i) for i in range(200)] + [make.held("r1", 500), make.dead(7)]
    other = SinkWriter(engine_factory())
    errors: list[BaseException] = []

    def run(w: SinkWriter) -> None:
        try:
            w.apply("sink", batch)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(w,)) for w in (writer, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    counts = writer.counts()
    assert (counts["copies"], counts["held_open"], counts["dead_letters"]) == (200, 1, 1)
    assert writer.positions("sink", [VERIFIED, HELD, DLQ]) == {(VERIFIED, 0): 200, (HELD, 0): 1, (DLQ, 0): 1}


def test_counts_and_verdict_count(writer: SinkWriter, make: Messages) -> None:
    writer.apply("sink", [make.passed("a", 1), make.passed("b", 1), make.passed("b", 2, operation="delete"),
                          make.held("c", 1), make.held("d", 1), make.passed("d", 2), make.dead(1)])
    counts = writer.counts()
    assert (counts["copies"], counts["withdrawn"], counts["held_open"], counts["held_superseded"],
            counts["dead_letters"]) == (2, 1, 1, 1, 1)
    assert writer.verdict_count() == 3 + 2 + 1


def test_consumed_offsets_row_is_written_with_the_rows(writer: SinkWriter, make: Messages) -> None:
    from sqlalchemy.orm import Session

    writer.apply("sink", [make.passed("r1", 1)])
    with Session(writer.engine) as session:
        row = session.scalars(select(ConsumedOffset)).one()
        assert (row.consumer, row.topic, row.partition, row.next_offset) == ("sink", VERIFIED, 0, 1)
        assert row.updated_at <= dt.datetime.now(dt.timezone.utc)
        assert session.scalar(select(func.count()).select_from(ConsumedOffset)) == 1
