"""A message the database refuses becomes a dead letter; the rest of its batch is written.

(The bisecting lives in ``sinks.worker``; it is tested here, beside the
writer's fixtures, on PostgreSQL, which refuses a NUL character in text.)
"""

from __future__ import annotations

import pytest

from sinks.worker import apply_or_dead_letter


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_refused_message_is_dead_lettered_and_its_batch_still_lands(writer, make):
    batch = [make.passed(f"R{i}", version=i) for i in range(10)]
    batch[6] = make.passed("BAD", version=6, offset=6, name="山田\x00花子")
    apply_or_dead_letter(writer, "sink", batch)
    assert writer.counts()["copies"] == 9
    letters = writer.dead_letters()
    assert [(d.reason, d.stage, d.source_offset) for d in letters] == [("SINK_REFUSED", "sink", batch[6].offset)]
    assert "621" not in letters[0].error  # no number in the stored error
    assert writer.positions("sink", [batch[0].topic])[(batch[0].topic, 0)] == batch[-1].offset + 1
