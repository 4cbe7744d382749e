"""The exposure investigation end to end on the real broker, the real guard and sink (PostgreSQL).

A wrong link released by two reviewers reaches the intermediate-server sink;
when the number's own holder turns up, the guard retracts it. The exposure list
then shows the case with the exact period the wrong copy was in the sink, whose
number it carried and whose data it was; a notice letter renders with the
number masked, and its generation is audited.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from fixtures import sink_store
from fixtures.support import birth, my_number
from guards import Record, Resident
from linkguard.hq.exposure import list_exposures
from linkguard.hq.letters import generate_batch
from sinks.models import AuditEntry, IntermediateCopy, PendingRelease
from streams.publish import Publisher

pytestmark = pytest.mark.integration

SYSTEM = "jido-fuyo"


def one_held_record(harness):
    """The pipeline running with a stranger's record held on taro's number, a reviewer and an approver."""
    residents = [Resident(my_number(i), f"山田 太郎{i}", birth(1950 + i), 1, f"高知市丸ノ内{i}-2-20")
                 for i in range(1, 6)]
    taro = residents[2]
    stranger = Record(SYSTEM, "RELEASE", taro.my_number, "高橋 一郎", "1990-01-01", "1", taro.address,
                      payload={"証書番号": "第77号", "支給額": "43160"})
    return (residents, *sink_store.one_held_record(harness, residents, stranger))


@pytest.mark.parametrize("pipeline_database", ["postgresql"], indirect=True)
def test_a_retracted_release_is_listed_with_its_period_and_a_letter_masks_the_number(harness):
    residents, store, publisher, service, sato, ito = one_held_record(harness)
    taro = residents[2]  # the stranger's record carries taro's number
    try:
        service.request_release(SYSTEM, "RELEASE", user=sato, comment="本人確認済み")
        harness.wait_until(lambda: store.one(PendingRelease, system=SYSTEM, record_id="RELEASE") is not None,
                           "the release request")
        service.approve_release(SYSTEM, "RELEASE", user=ito, comment="確認しました")
        harness.wait_until(lambda: store.copy("RELEASE") is not None, "the released copy")
        registered = store.copy("RELEASE").verified_at
        assert list_exposures(store.engine) == []  # a live copy is not (yet) a case

        holder = Record("shintai-techo", "TARO", taro.my_number, taro.name, taro.birth_date.isoformat(),
                        str(taro.sex), taro.address)
        with Publisher(harness.settings) as records_publisher:
            records_publisher.publish_records([holder])
        harness.wait_until(lambda: (copy := store.copy("RELEASE")) is not None and copy.withdrawn_at is not None,
                           "the released copy to be withdrawn", timeout=60)
        withdrawn = store.copy("RELEASE").withdrawn_at

        [case] = list_exposures(store.engine)
        assert (case.process.code, case.record_id, case.cause, case.via) == (SYSTEM, "RELEASE", "retracted", "review")
        assert case.since == registered and case.until == withdrawn and case.since < case.until
        assert case.masked_number == "**** **** " + taro.my_number[-4:]
        assert case.number_holder.name == taro.name and case.number_holder.address == taro.address
        assert case.data_subject.name == "高橋 一郎" and case.data_subject.source == "record"
        assert case.review_status == "open"  # held again for the reviewers
        assert case.payload_fields == ("支給額", "証書番号")  # the item names, never their values
        assert store.one(IntermediateCopy, system="shintai-techo", record_id="TARO").withdrawn_at is None

        batch, html, unaddressed = generate_batch(store.engine, [case], "honbu", issued_on=dt.date(2026, 12, 7))
        assert unaddressed == []
        assert f"{taro.name}　様" in html and "高橋 一郎　様" in html
        assert "**** **** " + taro.my_number[-4:] in html and taro.my_number not in html
        assert "証書番号" in html and "第77号" not in html
        with store.engine.connect() as conn:
            actions = [a for (a,) in conn.execute(sa.select(AuditEntry.action).where(AuditEntry.actor == "honbu"))]
        assert actions == ["notice_letters"]
    finally:
        publisher.close()
        store.engine.dispose()
