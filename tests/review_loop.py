"""The decisions' path with the broker taken out, for the review tests (see :class:`Loop`).

Each decision is Avro-encoded and decoded, written to the sink as submitted,
ruled on by the guard's own :func:`streams.decisions.rule` with a dict as its
``release_requests`` table, and the ruling (and a release's PASS verdict) are
written by the real :class:`sinks.SinkWriter`. The integration tests run the
same path on the real broker with the real Faust worker.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from typing import Any

import schemas
from sinks import SinkMessage, SinkWriter
from streams.decisions import rule
from support import my_number

SYSTEM = "shintai-techo"
#: the registry person of the held records' number and the person the guard suggests
NUMBER = my_number(62149832025)
SUGGESTED = my_number(12345678901)


class Loop:
    """Decisions → guard rule → sink, in process; corrected records are collected for the test to check."""

    def __init__(self, writer: SinkWriter) -> None:
        self.writer = writer
        self.codec = schemas.Codec()
        self.requests: dict[tuple[str, str], dict[str, Any]] = {}
        self.records: list[dict[str, Any]] = []
        self.returned: list[dict[str, Any]] = []
        self.rulings: list[dict[str, Any]] = []
        self.offsets: Counter[str] = Counter()
        self.clock = dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.timezone.utc)
        self.record_offset = 100  # versions of the records topic

    # -- the DecisionPublisher protocol ----------------------------------------------
    def publish_decision(self, decision: dict[str, Any]) -> None:
        d = self.codec.decode("decision", self.codec.encode("decision", decision))
        self.apply("decision", "linkage.decisions", "decision", d)
        self.rule(d)

    def publish_record(self, event: dict[str, Any]) -> None:
        self.records.append(self.codec.decode("record_changed", self.codec.encode("record_changed", event)))

    # -- the guard and the sink ------------------------------------------------------
    def rule(self, d: dict[str, Any]) -> None:
        key = (d["system"], d["record_id"])
        ruling = rule(d, self.requests.get(key))
        if ruling.request == "open":
            self.requests[key] = d
        elif ruling.request == "close":
            self.requests.pop(key, None)
        if ruling.release is not None:
            self.apply("verified", "linkage.verified", "verdict", ruling.release)
        if ruling.returned:
            self.returned.append(ruling.decision)
        self.rulings.append(ruling.decision)
        self.apply("ruling", "linkage.decided", "decision", ruling.decision)

    def apply(self, kind: str, topic: str, schema: str, payload: dict[str, Any]):
        raw = self.codec.encode(schema, payload)
        offset = self.offsets[topic]
        self.offsets[topic] += 1
        return self.writer.apply("sink", [SinkMessage(topic, 0, offset, kind, self.codec.decode(schema, raw),
                                                      raw)])

    def tick(self) -> dt.datetime:
        self.clock += dt.timedelta(minutes=1)
        return self.clock

    def event(self, record_id: str, *, system: str = SYSTEM, number: str = NUMBER, name: str = "山田 花子",
              batch_id: str = "b-1") -> dict[str, Any]:
        return {"event_id": str(uuid.uuid4()), "system": system, "record_id": record_id, "operation": "update",
                "occurred_at": self.tick(), "my_number": number, "name": name, "name_kana": "ヤマダ ハナコ",
                "birth_date": "昭和55年4月1日", "sex": "女", "address": "高知県高知市本町1丁目1-1",
                "atena_no": "000123", "number_source": "申請書", "entered_by": "staff-7", "batch_id": batch_id,
                "payload": {"手帳番号": "第123号"}, "updated_at": None}

    def person(self, number: str, name: str, birth: dt.date = dt.date(1980, 4, 1)) -> dict[str, Any]:
        return {"my_number": number, "name": name, "name_kana": "", "birth_date": birth, "sex": 2,
                "address": "高知市本町一丁目1番1号", "status": "住民", "previous_names": [], "previous_addresses": [],
                "previous_my_numbers": []}

    def verdict(self, event: dict[str, Any], outcome: str, version: int, *,
                reasons: list[dict[str, str]] | None = None, suggested: str = "",
                registry_person: dict[str, Any] | None = None,
                suggested_person: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"event_id": event["event_id"], "outcome": outcome, "reasons": reasons or [],
                "suggested_my_number": suggested, "checked_at": self.tick(), "version": version, "record": event,
                "registry_person": registry_person, "suggested_person": suggested_person}

    def hold(self, record_id: str, version: int | None = None, *, reasons: list[dict[str, str]] | None = None,
             suggested: str = SUGGESTED, **event: Any) -> dict[str, Any]:
        """A HOLD of a record whose number belongs to someone else, with the right person suggested."""
        ev = self.event(record_id, **event)
        version = self.next_version() if version is None else version
        verdict = self.verdict(ev, "HOLD", version,
                               reasons=reasons or [{"code": "IDENTITY_MISMATCH", "detail": "name, birth_date"}],
                               suggested=suggested, registry_person=self.person(ev["my_number"], "鈴木 次郎",
                                                                                dt.date(1990, 5, 5)),
                               suggested_person=self.person(suggested, "山田 花子") if suggested else None)
        self.apply("held", "linkage.held", "verdict", verdict)
        return verdict

    def passed(self, event: dict[str, Any], version: int | None = None) -> dict[str, Any]:
        verdict = self.verdict(event, "PASS", self.next_version() if version is None else version)
        self.apply("verified", "linkage.verified", "verdict", verdict)
        return verdict

    def next_version(self) -> int:
        self.record_offset += 1
        return self.record_offset
