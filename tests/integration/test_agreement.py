"""The stream and the batch inspection agree, and a registry change retracts a copy.

Records arrive at the stream one at a time and in any order (the other half
of a batch swap may come later); once the stream has drained, the stores
must hold what ``linkguard inspect`` says of the same records — same
outcome, same reason codes in the same order, same suggestion.
"""

from __future__ import annotations

import json
import random
import time

import pytest

from linkguard.synthetic.corpus import make_corpus
from guards import Outcome, Record, Resident
from linkguard.ops.inspection import inspect
from streams.publish import Publisher

from fixtures.support import birth, consume, my_number

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def stream_state(h) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(system, record_id) → (outcome, reason codes, suggestion) as the stores hold it now."""
    state: dict[tuple[str, str], tuple[str, str, str]] = {}
    for row in h.rows("SELECT system, record_id FROM intermediate_copies WHERE withdrawn_at IS NULL"):
        state[(row.system, row.record_id)] = ("PASS", "", "")
    for row in h.rows("SELECT system, record_id, reasons, suggested_my_number FROM held_records "
                      "WHERE status = 'open'"):
        key = (row.system, row.record_id)
        assert key not in state, f"{key} is both a live copy and an open hold"
        codes = ";".join(dict.fromkeys(r["code"] for r in _json(row.reasons)))
        state[key] = ("HOLD", codes, row.suggested_my_number or "")
    for row in h.rows("SELECT system, record_id, reason FROM dead_letters WHERE system <> ''"):
        state.setdefault((row.system, row.record_id), ("INVALID", row.reason, ""))
    return state


def wait_until_settled(h, expected: int, quiet: float = 6.0, timeout: float = 400) -> dict:
    """Every record has a verdict and nothing has changed for ``quiet`` seconds."""
    h.wait_until(lambda: len(stream_state(h)) >= expected, f"{expected} records with a verdict", timeout=timeout)
    last, since = stream_state(h), time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "the stores never settled"
        h.check_alive()
        time.sleep(1)
        now = stream_state(h)
        if now != last:
            last, since = now, time.monotonic()
    return last


@pytest.mark.parametrize("pipeline_database", ["sqlite"], indirect=True)
def test_stream_agrees_with_inspect_in_any_order(harness):
    corpus = make_corpus(records=900, seed=7, error_rate=0.1)
    records = list(corpus.records)
    random.Random(11).shuffle(records)  # swaps, family members and shared numbers in a scrambled order
    expected = {}
    for row in inspect(corpus.residents, corpus.records):
        v = row.verdict
        codes = v.reason_codes if v.outcome is Outcome.HOLD else ""
        if v.outcome is Outcome.INVALID:
            codes = v.reason_codes
        expected[(row.record.system, row.record.record_id)] = (
            v.outcome.value, codes, v.suggested_my_number if v.outcome is Outcome.HOLD else "")
    assert sum(1 for o, c, _ in expected.values() if "BATCH_SWAP" in c) >= 5, "the corpus must hold swaps"

    harness.start("worker", "worker")
    harness.start("sink", "sink")
    harness.load_registry(corpus.residents)
    with Publisher(harness.settings) as publisher:
        publisher.publish_records(records)
    got = wait_until_settled(harness, len(expected))

    differ = {k: (expected[k], got.get(k)) for k in expected if got.get(k) != expected[k]}
    assert not differ, f"{len(differ)} of {len(expected)} records differ (inspect, stream): " + repr(
        dict(list(differ.items())[:8]))
    assert set(got) == set(expected)


@pytest.mark.parametrize("pipeline_database", ["postgresql"], indirect=True)
def test_registry_change_retracts_a_copy(harness):
    """A PASSed record whose number turns out to belong to someone else is withdrawn (連携停止)."""
    number = my_number(4242)
    taro = Resident(number, "山田 太郎", birth(1970), 1, "高知市本町1-1")
    record = Record("shintai-techo", "R-1", number, "山田 太郎", birth(1970).isoformat(), "1", "高知市本町1-1")
    harness.start("worker", "worker")
    harness.start("sink", "sink")
    harness.load_registry([taro])
    with Publisher(harness.settings) as publisher:
        publisher.publish_records([record])
    harness.wait_until(lambda: harness.scalar(
        "SELECT COUNT(*) FROM intermediate_copies WHERE withdrawn_at IS NULL") == 1, "the copy")

    # the registry office finds the number is someone else's
    someone = Resident(number, "鈴木 花子", birth(1985), 2, "高知市桟橋通2-2")
    with Publisher(harness.settings) as publisher:
        publisher.publish_residents([someone])
    harness.wait_until(lambda: harness.scalar(
        "SELECT COUNT(*) FROM intermediate_copies WHERE withdrawn_reason = 'retracted'") == 1,
        "the copy to be withdrawn", timeout=60)
    held = harness.rows("SELECT reasons, status FROM held_records")
    assert len(held) == 1 and held[0].status == "open"
    assert "IDENTITY_MISMATCH" in {r["code"] for r in _json(held[0].reasons)}
    retracted = consume(harness.settings.topic_prefix + "linkage.retracted", harness.settings.kafka_bootstrap, 1)
    assert len(retracted) == 1 and b"R-1" in retracted[0].key
