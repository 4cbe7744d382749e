"""連携停止 end to end: the real broker, real guard workers, the real sink (PostgreSQL).

Stopping a process holds every record of it with LINKAGE_STOPPED and
withdraws its copies from the intermediate-server sink as 'stopped', each
announced on linkage.retracted; other processes go on. A worker killed and
restarted while the process is stopped still holds its new records. Resuming
judges the held records again: the good ones reach the sink again, a record
held for its own fault stays held.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

import schemas
from guards import Record, Resident
from sinks import make_engine
from sinks.models import HeldRecord, IntermediateCopy, ReviewDecision
from streams.publish import Publisher
from streams.stops import control_message, publish_process_state
from streams.topics import names

from fixtures.support import birth, consume, my_number

pytestmark = pytest.mark.integration

STOPPED = "shintai-techo"
OTHER = "jido-fuyo"


def registry() -> list[Resident]:
    return [Resident(my_number(i), f"山田 太郎{i}", birth(1950 + i), 1, f"高知市丸ノ内{i}-2-20") for i in range(1, 8)]


def good(system: str, rid: str, resident: Resident) -> Record:
    return Record(system, rid, resident.my_number, resident.name, resident.birth_date.isoformat(), "1",
                  resident.address, number_source="申請書", payload={"等級": "2級"})


class Store:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)

    def all(self, model, **key) -> list:
        with Session(self.engine) as session:
            try:
                return list(session.scalars(sa.select(model).filter_by(**key)))
            except sa.exc.DBAPIError:
                return []  # tables not created yet

    def copies(self, system: str) -> dict[str, IntermediateCopy]:
        return {c.record_id: c for c in self.all(IntermediateCopy, system=system)}

    def held(self, system: str) -> dict[str, HeldRecord]:
        return {h.record_id: h for h in self.all(HeldRecord, system=system)}


def state(system: str, stopped: bool, stop_id: str) -> dict:
    return control_message(system, stopped=stopped, stop_id=stop_id, changed_at=dt.datetime.now(dt.timezone.utc),
                           requested_by="sato", approved_by="ito", reason="紐付け誤りの調査のため")


@pytest.mark.parametrize("pipeline_database", ["postgresql"], indirect=True)
def test_a_stop_holds_and_withdraws_survives_a_restart_and_a_resume_sends_again(harness):
    residents = registry()
    harness.start("worker", "worker")
    harness.start("sink", "sink")
    harness.load_registry(residents)
    stranger = Record(STOPPED, "WRONG", residents[4].my_number, "高橋 一郎", "1990-01-01", "1", "高知市")
    with Publisher(harness.settings) as publisher:
        publisher.publish_records([good(STOPPED, f"S{i}", residents[i]) for i in range(3)]
                                  + [good(OTHER, "J0", residents[3]), stranger])
    store = Store(harness.database_url)
    harness.wait_until(lambda: len(store.copies(STOPPED)) == 3 and len(store.copies(OTHER)) == 1
                       and "WRONG" in store.held(STOPPED), "three live copies, one of the other process, one hold")

    stop_id = uuid.uuid4().hex
    publish_process_state(harness.settings, state(STOPPED, True, stop_id))

    def withdrawn() -> bool:
        copies = store.copies(STOPPED)
        return all(c.withdrawn_reason == "stopped" for c in copies.values())

    harness.wait_until(withdrawn, "the stopped process's copies withdrawn as 'stopped'")
    held = store.held(STOPPED)
    assert {r for r, h in held.items() if "LINKAGE_STOPPED" in h.reason_codes and h.status == "open"} \
        == {"S0", "S1", "S2", "WRONG"}
    assert held["WRONG"].reason_codes[0] == "IDENTITY_MISMATCH"  # its own fault is kept
    assert store.copies(OTHER)["J0"].withdrawn_at is None  # another process goes on
    retracted = consume(names(harness.settings).retracted, harness.settings.kafka_bootstrap, 3)
    codec = schemas.Codec()
    announced = {codec.decode("verdict", m.value)["record"]["record_id"] for m in retracted}
    assert announced == {"S0", "S1", "S2"}

    # -- a release published straight to linkage.decisions, around the review service ------------
    from linkguard.review.service import KafkaDecisionPublisher
    from streams.events import decision_message

    wrong = store.held(STOPPED)["WRONG"]
    event = {**wrong.record, "occurred_at": dt.datetime.fromisoformat(wrong.record["occurred_at"]),
             "payload": {str(k): str(v) for k, v in (wrong.record.get("payload") or {}).items()}}
    common = dict(system=STOPPED, record_id="WRONG", version=wrong.version, event_id=wrong.event_id, comment="x")
    rogue = KafkaDecisionPublisher(harness.settings)
    rogue.publish_decision(decision_message(action="REQUEST_RELEASE", user="sato", record=event, **common))
    approval = decision_message(action="APPROVE_RELEASE", user="ito", **common)
    rogue.publish_decision(approval)

    def ruled() -> list[ReviewDecision]:
        return [d for d in store.all(ReviewDecision, decision_id=approval["decision_id"]) if d.status != "SUBMITTED"]

    harness.wait_until(lambda: ruled(), "the guard's ruling on the approval")
    assert ruled()[0].status == "REJECTED" and "連携停止" in ruled()[0].rejection
    assert "WRONG" not in store.copies(STOPPED) and store.held(STOPPED)["WRONG"].status == "open"

    # -- a worker killed and started again while the process is stopped ------------------------
    harness.kill("worker")
    harness.start("worker2", "worker")
    with Publisher(harness.settings) as publisher:
        publisher.publish_records([good(STOPPED, "S3", residents[5]), good(OTHER, "J1", residents[6])])
    harness.wait_until(lambda: "J1" in store.copies(OTHER) and "S3" in store.held(STOPPED),
                       "the restarted worker's verdicts")
    assert "LINKAGE_STOPPED" in store.held(STOPPED)["S3"].reason_codes
    assert "S3" not in store.copies(STOPPED)

    # -- resume: the held records are judged again with the current rules ----------------------
    publish_process_state(harness.settings, state(STOPPED, False, stop_id))

    def resent() -> bool:
        copies = store.copies(STOPPED)
        return set(copies) == {"S0", "S1", "S2", "S3"} and all(c.withdrawn_at is None for c in copies.values())

    harness.wait_until(resent, "the resumed process's copies live again")
    held = store.held(STOPPED)
    assert all(held[r].status == "superseded" for r in ("S0", "S1", "S2", "S3"))
    harness.wait_until(lambda: "LINKAGE_STOPPED" not in store.held(STOPPED)["WRONG"].reason_codes,
                       "the wrong record judged again")
    wrong = store.held(STOPPED)["WRONG"]
    assert wrong.status == "open" and wrong.reason_codes[0] == "IDENTITY_MISMATCH"
    assert "LINKAGE_STOPPED" not in wrong.reason_codes
