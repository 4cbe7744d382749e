"""The dead-letter queue's reads and replay mark (``linkguard dlq``), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sinks import SinkWriter

Messages = Any  # the `make` fixture of tests/sinks/conftest.py

AT = dt.datetime(2026, 4, 2, 10, 0, tzinfo=dt.timezone.utc)


def fill(writer: SinkWriter, make: Messages) -> list[int]:
    writer.apply("sink", [
        make.dead(10, reason="BAD_DATE", record_id="ST-1", value=b"\xc3\x01a", key=b"k1"),
        make.dead(11, reason="BAD_DATE;BAD_SEX", record_id="ST-2"),
        make.dead(12, reason="UNDECODABLE", error="not a single-object Avro message"),
        make.dead(13, reason="UNDECODABLE", stage="registry"),
        make.dead(14, reason="BADXDATE"),  # '_' must not act as a LIKE wildcard
    ])
    return [letter.id for letter in writer.find_dead_letters(newest_first=False)]


def test_one_dead_letter_by_id_with_its_raw_key_and_value(writer, make):
    ids = fill(writer, make)
    letter = writer.dead_letter(ids[0])
    assert (letter.source_offset, letter.reason, letter.record_id) == (10, "BAD_DATE", "ST-1")
    assert (letter.raw_key, letter.raw_value, letter.replayed_at) == (b"k1", b"\xc3\x01a", None)
    assert writer.dead_letter(max(ids) + 1) is None


def test_filters_by_one_reason_code_stage_and_replay_state(writer, make):
    ids = fill(writer, make)
    offsets = lambda letters: [letter.source_offset for letter in letters]  # noqa: E731
    assert offsets(writer.find_dead_letters()) == [14, 13, 12, 11, 10]  # newest first
    assert offsets(writer.find_dead_letters(newest_first=False, limit=2)) == [10, 11]
    assert offsets(writer.find_dead_letters(reason="BAD_DATE")) == [11, 10]
    assert offsets(writer.find_dead_letters(reason="BAD_SEX")) == [11]
    assert offsets(writer.find_dead_letters(reason="BAD")) == []  # whole codes only
    assert offsets(writer.find_dead_letters(reason="UNDECODABLE", stage="guard")) == [12]
    assert offsets(writer.find_dead_letters(stage="registry")) == [13]
    writer.mark_replayed(ids[1], at=AT)
    assert offsets(writer.find_dead_letters(replayed=True)) == [11]
    assert offsets(writer.find_dead_letters(replayed=False, limit=None)) == [14, 13, 12, 10]


def test_replay_mark_is_taken_once_unless_forced_and_can_be_given_back(writer, make):
    ids = fill(writer, make)
    before = writer.counts()
    assert writer.mark_replayed(ids[0], at=AT) is True
    assert writer.mark_replayed(ids[0]) is False  # a second replay is refused …
    assert writer.dead_letter(ids[0]).replayed_at == AT
    later = AT + dt.timedelta(hours=1)
    assert writer.mark_replayed(ids[0], at=later, force=True) is True  # … unless forced
    assert writer.dead_letter(ids[0]).replayed_at == later
    writer.unmark_replayed(ids[0], previous=AT)  # a replay the broker refused gives the mark back
    assert writer.dead_letter(ids[0]).replayed_at == AT
    writer.unmark_replayed(ids[0])
    assert writer.dead_letter(ids[0]).replayed_at is None
    assert writer.mark_replayed(max(ids) + 1) is False  # no such dead letter
    assert [letter.replayed_at for letter in writer.find_dead_letters() if letter.id != ids[0]] == [None] * 4
    assert writer.counts() == before


def test_a_redelivered_dead_letter_keeps_its_replay_mark(writer, make):
    first = make.dead(20, reason="BAD_DATE", record_id="ST-9", offset=0)
    writer.apply("sink", [first])
    letter_id = writer.find_dead_letters()[0].id
    writer.mark_replayed(letter_id, at=AT)
    writer.apply("sink", [first])  # redelivered (same position)
    writer.apply("sink", [make.dead(20, reason="BAD_DATE", record_id="ST-9", offset=5)])  # re-sent by the guard
    assert [(letter.id, letter.replayed_at) for letter in writer.find_dead_letters()] == [(letter_id, AT)]
