"""連携停止 in the guard itself: a release of a stopped process's held record is refused, whoever publishes it.

The review service refuses such a release, but a decision can reach
``linkage.decisions`` around it (another client, a replay). The guard's own
pipeline — the decision stage, then the number stage that knows each
process's state — must refuse it too. Through the in-memory topology driver.
"""

from __future__ import annotations

import dataclasses

from guards import Record, Resident
from streams.events import decision_message
from streams.testing import TopologyDriver

from fixtures.support import birth, my_number

HANAKO = Resident(my_number(1001), "山田 花子", birth(1980), 2, "高知市本町1-1")
SYSTEM = "shintai-techo"


def _held_record(driver: TopologyDriver, record_id: str) -> dict:
    """The newest HOLD verdict of the record, as the review store would hold it."""
    held = [driver.codec.decode("verdict", m.value) for m in driver.messages(driver.names.held)]
    mine = [v for v in held if v["record"]["record_id"] == record_id]
    return max(mine, key=lambda v: v["version"])


def _release(driver: TopologyDriver, held: dict, requester: str = "sato", approver: str = "ito") -> None:
    """A release requested and approved by two people, published straight to linkage.decisions."""
    common = dict(system=SYSTEM, record_id=held["record"]["record_id"], version=held["version"],
                  event_id=held["event_id"], comment="確認済み")
    driver.decide(decision_message(action="REQUEST_RELEASE", user=requester, record=held["record"], **common))
    driver.run()
    driver.decide(decision_message(action="APPROVE_RELEASE", user=approver, **common))
    driver.run()


def _rulings(driver: TopologyDriver, action: str) -> list[dict]:
    return [d for d in (driver.codec.decode("decision", m.value) for m in driver.messages(driver.names.decided))
            if d["action"] == action]


def _review_passes(driver: TopologyDriver) -> list[dict]:
    return [v for v in (driver.codec.decode("verdict", m.value) for m in driver.messages(driver.names.verified))
            if v.get("via") == "review"]


def _mismatched() -> Record:
    """A record whose name does not match its number's registry entry: held for review."""
    return Record(SYSTEM, "T-1", HANAKO.my_number, "山田 太郎", "1980-04-01", "2", "高知市本町1-1")


def test_a_release_approved_by_two_people_goes_out_while_the_process_runs() -> None:
    driver = TopologyDriver(partitions=3, seed=3)
    driver.publish_residents([HANAKO])
    driver.publish_records([_mismatched()])
    driver.run()
    assert driver.final()[(SYSTEM, "T-1")][0] == "HOLD"
    _release(driver, _held_record(driver, "T-1"))
    assert [r["status"] for r in _rulings(driver, "APPROVE_RELEASE")] == ["ACCEPTED"]
    assert len(_review_passes(driver)) == 1 and driver.final()[(SYSTEM, "T-1")][0] == "PASS"


def test_a_release_of_a_stopped_process_is_rejected_by_the_guard() -> None:
    driver = TopologyDriver(partitions=3, seed=5)
    driver.publish_residents([HANAKO])
    driver.publish_records([_mismatched(), dataclasses.replace(_mismatched(), record_id="T-2")])
    driver.run()
    driver.control_process(SYSTEM, stopped=True)
    driver.run()
    held = _held_record(driver, "T-1")
    assert "LINKAGE_STOPPED" in [r["code"] for r in held["reasons"]]

    _release(driver, held)  # two different people, as the four-eyes rule wants: still refused
    rulings = _rulings(driver, "APPROVE_RELEASE")
    assert [r["status"] for r in rulings] == ["REJECTED"] and "連携停止" in rulings[0]["rejection"]
    assert _review_passes(driver) == []  # nothing reached linkage.verified: the sink writes no copy
    assert driver.final()[(SYSTEM, "T-1")][:2] == ("HOLD", "IDENTITY_MISMATCH;LINKAGE_STOPPED")

    # after the resume the stop's reason is gone; the record (still mismatched) can be released again
    driver.control_process(SYSTEM, stopped=False)
    driver.run()
    _release(driver, _held_record(driver, "T-2"))
    assert [r["status"] for r in _rulings(driver, "APPROVE_RELEASE")] == ["REJECTED", "ACCEPTED"]
    assert [v["record"]["record_id"] for v in _review_passes(driver)] == ["T-2"]
