"""Codec.encode_verdict (the event's body copied, a plain verdict written without fastavro) gives
exactly the bytes of Codec.encode."""

from __future__ import annotations

import datetime as dt
import random

import pytest

import schemas
from streams.events import record_to_event
from guards import Record


def _event(rng: random.Random) -> dict:
    record = Record("shoman", f"S-{rng.randrange(10 ** 6)}", "621498320257", rng.choice(["山田 花子", "Ann"]),
                    "1980-04-01", "2", "高知市本町1-1", batch_id=rng.choice(["", "B-1"]))
    return record_to_event(record)


@pytest.mark.parametrize("seed", range(3))
def test_encode_verdict_equals_encode(seed):
    rng = random.Random(seed)
    codec = schemas.Codec(registry=None)
    utc = dt.timezone.utc
    for _ in range(300):
        event = _event(rng)
        checked = dt.datetime(1960, 1, 1, tzinfo=utc) + dt.timedelta(microseconds=rng.randrange(10 ** 17))
        if rng.random() < 0.3:
            checked = checked.astimezone(dt.timezone(dt.timedelta(hours=9)))
        verdict = {"event_id": rng.choice([event["event_id"], "", "イベント-1"]),
                   "outcome": rng.choice(["PASS", "HOLD", "INVALID"]),
                   "reasons": rng.choice([[], [{"code": "NOT_IN_REGISTRY", "detail": ""}],
                                          [{"code": "FORMER_NAME", "detail": ""},
                                           {"code": "VARIANT_CHARACTERS", "detail": "name"}],
                                          [{"code": "SHARED_NUMBER", "detail": "児童手当/J-" + "7" * 70}],
                                          [{"code": "MOVED_OUT"}]]),  # detail left to the schema's default
                   "suggested_my_number": rng.choice(["", "123456789018"]), "checked_at": checked,
                   "version": rng.choice([0, 1, 2 ** 24 + 5, 2 ** 62, rng.randrange(2 ** 40)]), "record": event,
                   "registry_person": None, "suggested_person": None, "via": rng.choice(["guard", "review"]),
                   "explanation": rng.choice([[], [{"field": "name", "match": "exact", "detail": ""}]])}
        if rng.random() < 0.3:
            verdict.update(decision_id="D-1", requested_by="alice", approved_by="bob")
        assert codec.encode_verdict(verdict, codec.encode("record_changed", event)) == codec.encode("verdict", verdict)


def test_a_plain_verdict_is_written_without_fastavro():
    verdict = {"event_id": "e", "outcome": "PASS", "reasons": [], "suggested_my_number": "",
               "checked_at": dt.datetime(2024, 4, 1, tzinfo=dt.timezone.utc), "version": 7,
               "registry_person": None, "suggested_person": None, "via": "guard"}
    assert schemas._plain_verdict(verdict) is not None
    assert schemas._plain_verdict({**verdict, "reasons": [{"code": "FORMER_NAME", "detail": ""}]}) is not None
    assert schemas._plain_verdict({**verdict, "explanation": [{"field": "name", "match": "exact", "detail": ""}]}) is None
    assert schemas._plain_verdict({**verdict, "reasons": [{"code": None, "detail": ""}]}) is None  # fastavro's to refuse
