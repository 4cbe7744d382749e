"""The sink keeps each wrong copy's time on the intermediate server (exposure investigation)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from sinks.hq import ExposureCase
from sinks.models import IntermediateCopy
from fixtures.support import my_number

NUMBER = my_number(62149832025)  # as tests/sinks/conftest.py builds its records

STOP = [{"code": "LINKAGE_STOPPED", "detail": ""}]


def cases(engine) -> list[ExposureCase]:
    with Session(engine) as session:
        return list(session.scalars(sa.select(ExposureCase).order_by(ExposureCase.id)))


def copy(engine, record_id: str) -> IntermediateCopy:
    with Session(engine) as session:
        return session.get(IntermediateCopy, ("shintai-techo", record_id))


def test_a_retracted_copy_becomes_a_case_with_its_period(writer, make, sink_engine):
    passed = make.passed("r1", 7 * 1024)
    writer.apply("sink", [passed])
    event = passed.payload["event_id"]
    # the same event held again later (a registry change): the copy is withdrawn
    writer.apply("sink", [make.held("r1", 7 * 1024 + 32, event_id=event)])
    [case] = cases(sink_engine)
    withdrawn = copy(sink_engine, "r1")
    assert withdrawn.withdrawn_reason == "retracted"
    assert (case.cause, case.my_number, case.name, case.version) == ("retracted", NUMBER, "山田 花子", 7 * 1024)
    assert case.in_sink_from == passed.payload["checked_at"] and case.in_sink_until == withdrawn.withdrawn_at
    assert case.payload_fields == ["手帳番号", "等級"]  # names only: the values stay out
    # a redelivery changes nothing
    writer.apply("sink", [make.held("r1", 7 * 1024 + 32, event_id=event, offset=0)])
    assert len(cases(sink_engine)) == 1


def test_a_stop_withdraws_as_stopped_and_is_a_case(writer, make, sink_engine):
    passed = make.passed("r2", 3 * 1024)
    writer.apply("sink", [passed])
    writer.apply("sink", [make.held("r2", 3 * 1024 + 32, event_id=passed.payload["event_id"], reasons=STOP)])
    assert copy(sink_engine, "r2").withdrawn_reason == "stopped"
    assert [c.cause for c in cases(sink_engine)] == ["stopped"]


def test_a_sent_number_corrected_later_is_a_case_and_a_new_copy_is_not(writer, make, sink_engine):
    writer.apply("sink", [make.passed("r3", 1024)])
    writer.apply("sink", [make.passed("r3", 2048)])  # the same number again: nothing was wrong
    assert cases(sink_engine) == []
    writer.apply("sink", [make.passed("r3", 3072, my_number=my_number(777))])
    [case] = cases(sink_engine)
    assert (case.cause, case.my_number, case.version) == ("corrected", NUMBER, 2048)
    assert copy(sink_engine, "r3").my_number == my_number(777)


def test_a_delete_is_not_a_case(writer, make, sink_engine):
    writer.apply("sink", [make.passed("r4", 1024)])
    writer.apply("sink", [make.passed("r4", 2048, operation="delete")])
    assert copy(sink_engine, "r4").withdrawn_reason == "deleted" and cases(sink_engine) == []
