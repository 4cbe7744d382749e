"""Reviewers' decisions end to end: the real broker, the real Faust guard, the real sink, SQLite and PostgreSQL.

A held record released by two people reaches the sink (via review); a
record corrected to its suggestion passes the guard and reaches the sink; a
returned record appears on ``linkage.returned``; an approval by the person
who requested the release reaches nothing.
"""

from __future__ import annotations

import time

import pytest

import schemas
from guards import Record, Resident
from linkguard.review.accounts import AccountStore
from linkguard.review.service import FourEyesViolation, KafkaDecisionPublisher, ReviewService
from sinks.models import IntermediateCopy, PendingRelease, ReviewDecision
from streams.events import decision_message
from streams.publish import Publisher
from streams.topics import names

from fixtures import sink_store
from fixtures.sink_store import Store
from fixtures.support import birth, consume, my_number

pytestmark = pytest.mark.integration

DATABASES = pytest.mark.parametrize("pipeline_database", ["sqlite", "postgresql"], indirect=True)
SYSTEM = "jido-fuyo"


def registry() -> list[Resident]:
    residents = [Resident(my_number(i), f"山田 太郎{i}", birth(1950 + i), 1, f"高知市丸ノ内{i}-2-20")
                 for i in range(1, 6)]
    residents[0] = Resident(my_number(1), "山田 花子", birth(1980), 2, "高知市丸ノ内1-2-20",
                            previous_my_numbers=(my_number(900_001),))
    return residents


def records(residents: list[Resident]) -> list[Record]:
    hanako, taro = residents[0], residents[2]

    def stranger(rid: str) -> Record:  # taro's number on a stranger: IDENTITY_MISMATCH
        return Record(SYSTEM, rid, taro.my_number, "高橋 一郎", "1990-01-01", "1", taro.address)

    return [
        stranger("RELEASE"), stranger("RETURN"), stranger("SAME-USER"),
        # hanako's former number: NUMBER_SUPERSEDED, her current number suggested
        Record(SYSTEM, "OLD-NUMBER", my_number(900_001), hanako.name, "1980-04-01", "2", hanako.address),
    ]


def one_held_record(harness):
    """The pipeline running with one record held (``RELEASE``), a reviewer and an approver."""
    residents = registry()
    return (residents, *sink_store.one_held_record(harness, residents, records(residents)[0]))


@DATABASES
def test_release_correct_return_and_a_refused_self_approval(harness):
    residents = registry()
    harness.start("worker", "worker")
    harness.start("sink", "sink")
    harness.load_registry(residents)
    with Publisher(harness.settings) as publisher:
        publisher.publish_records(records(residents))
    store = Store(harness.database_url, SYSTEM)
    harness.wait_until(lambda: all(store.held(r) is not None for r in
                                   ("RELEASE", "RETURN", "SAME-USER", "OLD-NUMBER")), "four held records")
    held = store.held("OLD-NUMBER")
    assert held.suggested_my_number == residents[0].my_number
    assert held.registry_person["name"] == "山田 花子" and held.suggested_person["name"] == "山田 花子"
    assert store.held("RELEASE").registry_person["name"] == residents[2].name  # what the guard compared with

    accounts = AccountStore(store.engine)
    sato = accounts.create_user("sato", "password-sato", ["reviewer"])
    ito = accounts.create_user("ito", "password-ito", ["approver"])
    kato = accounts.create_user("kato", "password-kato", ["reviewer", "approver"])
    publisher = KafkaDecisionPublisher(harness.settings)
    service = ReviewService(store.engine, publisher, accounts=accounts)
    try:
        # -- release with two people --------------------------------------------------------
        service.request_release(SYSTEM, "RELEASE", user=sato, comment="本人確認済み、同一人物")
        harness.wait_until(lambda: store.one(PendingRelease, system=SYSTEM, record_id="RELEASE") is not None,
                           "the guard to accept the release request and the sink to store it")
        assert store.copy("RELEASE") is None
        service.approve_release(SYSTEM, "RELEASE", user=ito, comment="確認しました")
        harness.wait_until(lambda: store.copy("RELEASE") is not None, "the released copy in the sink")
        copy = store.copy("RELEASE")
        assert copy.via == "review" and copy.my_number == residents[2].my_number
        harness.wait_until(lambda: store.held("RELEASE").status == "released", "the hold closed as released")

        # -- correct to the suggestion: it passes the guard on its own merits ------------------
        service.accept_suggestion(SYSTEM, "OLD-NUMBER", user=sato, comment="新しい番号に訂正")
        harness.wait_until(lambda: store.held("OLD-NUMBER").status == "corrected", "the hold closed as corrected")
        copy = store.copy("OLD-NUMBER")
        assert copy.via == "guard" and copy.my_number == residents[0].my_number

        # -- return ---------------------------------------------------------------------------
        decision = service.return_to_system(SYSTEM, "RETURN", user=sato, comment="申請者に再確認")
        harness.wait_until(lambda: store.held("RETURN").status == "returned", "the hold closed as returned")
        returned = consume(names(harness.settings).returned, harness.settings.kafka_bootstrap, 1)
        codec = schemas.Codec()
        [event] = [codec.decode("decision", m.value) for m in returned]
        assert event["decision_id"] == decision.decision_id and event["status"] == "ACCEPTED"
        assert event["record"]["record_id"] == "RETURN" and event["comment"] == "申請者に再確認"
        assert store.copy("RETURN") is None

        # -- the same person cannot approve: refused by the service, and by the guard ------------
        service.request_release(SYSTEM, "SAME-USER", user=kato, comment="問題なし")
        harness.wait_until(lambda: store.one(PendingRelease, system=SYSTEM, record_id="SAME-USER") is not None,
                           "the second release request")
        with pytest.raises(FourEyesViolation):
            service.approve_release(SYSTEM, "SAME-USER", user=kato, comment="自分で承認")
        target = store.held("SAME-USER")
        forged = decision_message(action="APPROVE_RELEASE", system=SYSTEM, record_id="SAME-USER",
                                  version=target.version, event_id=target.event_id, user="kato",
                                  comment="サービスを迂回")
        publisher.publish_decision(forged)
        harness.wait_until(lambda: (row := store.one(ReviewDecision, decision_id=forged["decision_id"])) is not None
                           and row.status == "REJECTED", "the guard to reject the self-approval")
        assert "four-eyes" in store.one(ReviewDecision, decision_id=forged["decision_id"]).rejection
        time.sleep(2)  # anything the rejection could have caused has had time to arrive
        assert store.copy("SAME-USER") is None and store.held("SAME-USER").status == "open"
        verified = consume(names(harness.settings).verified, harness.settings.kafka_bootstrap, 100, 3000)
        released = [codec.decode("verdict", m.value) for m in verified]
        assert [v["record"]["record_id"] for v in released if v["via"] == "review"] == ["RELEASE"]
    finally:
        publisher.close()
        store.engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("pipeline_database", ["postgresql"], indirect=True)
def test_an_open_release_request_survives_a_guard_worker_killed_with_minus_9(harness):
    """The guard's release_requests table is recovered from its changelog: the approval still finds the request."""
    residents, store, publisher, service, sato, ito = one_held_record(harness)
    try:
        service.request_release(SYSTEM, "RELEASE", user=sato, comment="本人確認済み")
        harness.wait_until(lambda: store.one(PendingRelease, system=SYSTEM, record_id="RELEASE") is not None,
                           "the release request in the sink")
        harness.kill("worker")
        harness.start("worker2", "worker")
        approval = service.approve_release(SYSTEM, "RELEASE", user=ito, comment="再起動後に承認")
        harness.wait_until(lambda: (row := store.one(ReviewDecision, decision_id=approval.decision_id)) is not None
                           and row.status != "SUBMITTED", "the restarted guard to rule on the approval",
                           timeout=240)
        ruled = store.one(ReviewDecision, decision_id=approval.decision_id)
        assert ruled.status == "ACCEPTED", ruled.rejection
        harness.wait_until(lambda: store.copy("RELEASE") is not None, "the released copy")
        assert store.copy("RELEASE").via == "review"
    finally:
        publisher.close()
        store.engine.dispose()


@pytest.mark.parametrize("pipeline_database", ["postgresql"], indirect=True)
def test_a_released_record_is_withdrawn_when_its_number_turns_out_to_be_someone_elses(harness):
    """Released by two people, then the number's own holder turns up in another system: the
    guard judges the released record again (SHARED_NUMBER), the sink withdraws its copy and a
    ``linkage.retracted`` event tells downstream."""
    residents, store, publisher, service, sato, ito = one_held_record(harness)
    taro = residents[2]
    try:
        service.request_release(SYSTEM, "RELEASE", user=sato, comment="本人確認済み")
        harness.wait_until(lambda: store.one(PendingRelease, system=SYSTEM, record_id="RELEASE") is not None,
                           "the release request")
        service.approve_release(SYSTEM, "RELEASE", user=ito, comment="確認しました")
        harness.wait_until(lambda: store.copy("RELEASE") is not None, "the released copy")
        assert store.copy("RELEASE").withdrawn_at is None

        holder = Record("shintai-techo", "TARO", taro.my_number, taro.name, taro.birth_date.isoformat(),
                        str(taro.sex), taro.address)
        with Publisher(harness.settings) as records_publisher:
            records_publisher.publish_records([holder])
        harness.wait_until(lambda: (copy := store.copy("RELEASE")) is not None and copy.withdrawn_at is not None,
                           "the released copy to be withdrawn", timeout=60)
        assert store.copy("RELEASE").withdrawn_reason == "retracted"
        # and downstream is told: the guard knew the hold had been released
        retracted = consume(harness.settings.topic_prefix + "linkage.retracted", harness.settings.kafka_bootstrap, 1)
        assert len(retracted) == 1 and b"RELEASE" in retracted[0].key
        held = store.held("RELEASE")
        assert held.status == "open" and "SHARED_NUMBER" in {r["code"] for r in held.reasons}
        assert store.one(IntermediateCopy, system="shintai-techo", record_id="TARO").withdrawn_at is None
    finally:
        publisher.close()
        store.engine.dispose()
