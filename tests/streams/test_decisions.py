"""The guard's ruling on reviewers' decisions (four-eyes again), the decision and verdict v2 messages."""

from __future__ import annotations

import datetime as dt
import io

import fastavro
import pytest

import schemas
from guards import Finding, Outcome, Reason, Record, Resident, Verdict
from streams.decisions import rule
from streams.events import decision_message, hold_persons, released_verdict, verdict_message
from fixtures.support import my_number

NUMBER = my_number(62149832025)
codec = schemas.Codec()


def event(record_id: str = "R-1", number: str = NUMBER) -> dict:
    return {"event_id": "e-1", "system": "shintai-techo", "record_id": record_id, "operation": "update",
            "occurred_at": dt.datetime(2026, 4, 1, tzinfo=dt.timezone.utc), "my_number": number,
            "name": "山田 花子", "payload": {}}


def decision(action: str, user: str, version: int = 7, **kw) -> dict:
    message = decision_message(action=action, system="shintai-techo", record_id="R-1", version=version,
                               event_id="e-1", user=user, comment="理由", **kw)
    return codec.decode("decision", codec.encode("decision", message))  # as the guard receives it


def test_a_request_opens_and_an_approval_by_another_person_releases_the_requested_event():
    request = decision("REQUEST_RELEASE", "sato", record=event())
    opened = rule(request, None)
    assert opened.accepted and opened.request == "open" and opened.release is None
    approval = decision("APPROVE_RELEASE", "ito")
    ruling = rule(approval, request)
    assert ruling.accepted and ruling.request == "close"
    assert ruling.decision["requested_by"] == "sato"
    release = ruling.release
    assert release["outcome"] == "PASS" and release["via"] == "review" and release["version"] == 7
    assert (release["requested_by"], release["approved_by"], release["decision_id"]) == \
        ("sato", "ito", approval["decision_id"])
    assert release["record"]["my_number"] == NUMBER
    assert codec.decode("verdict", codec.encode("verdict", release))["via"] == "review"


@pytest.mark.parametrize("request_user,request_version,why", [
    ("ito", 7, "four-eyes: ito requested this release"),
    (None, None, "no release request is open"),
    ("sato", 6, "the open request is for version 6, not 7"),
    ("sato", 8, "the open request is for version 8, not 7"),
])
def test_an_approval_is_rejected_without_a_matching_request_by_someone_else(request_user, request_version, why):
    request = (decision("REQUEST_RELEASE", request_user, request_version, record=event())
               if request_user else None)
    ruling = rule(decision("APPROVE_RELEASE", "ito"), request)
    assert not ruling.accepted and ruling.decision["status"] == "REJECTED"
    assert why in ruling.decision["rejection"]
    assert ruling.release is None and ruling.request == "keep" and not ruling.returned


def test_a_second_request_for_the_same_version_is_rejected_and_a_newer_one_replaces_it():
    first = decision("REQUEST_RELEASE", "sato", record=event())
    assert not rule(decision("REQUEST_RELEASE", "kato", record=event()), first).accepted
    assert rule(decision("REQUEST_RELEASE", "kato", 8, record=event()), first).request == "open"
    assert "carry the held event" in rule(decision("REQUEST_RELEASE", "sato"), None).decision["rejection"]


def test_return_correct_and_assign_are_accepted_and_close_an_older_request():
    request = decision("REQUEST_RELEASE", "sato", record=event())
    returned = rule(decision("RETURN", "kato", record=event()), request)
    assert returned.accepted and returned.returned and returned.request == "close" and returned.release is None
    corrected = rule(decision("CORRECT", "kato", corrected_event_id="e-2"), request)
    assert corrected.accepted and corrected.request == "close" and corrected.release is None
    assigned = rule(decision("ASSIGN", "kato", assignee="ito"), request)
    assert assigned.accepted and assigned.request == "keep"
    assert rule(decision("RETURN", "kato", 6), request).request == "keep"  # a request for a newer version stays


def test_released_verdict_takes_the_event_from_the_request_not_the_approval():
    request = decision("REQUEST_RELEASE", "sato", record=event())
    approval = {**decision("APPROVE_RELEASE", "ito"), "record": event(number=my_number(1))}
    assert released_verdict(request, approval)["record"]["my_number"] == NUMBER


def test_a_hold_carries_the_registry_persons_it_was_compared_with():
    her = Resident(NUMBER, "山田 花子", dt.date(1980, 4, 1), 2, "高知市本町1-1")
    other = Resident(my_number(1), "鈴木 次郎", dt.date(1990, 5, 5), 1, "高知市")
    registry = {NUMBER: her, my_number(1): other}
    record = Record("s", "R-1", NUMBER, "鈴木 次郎", "1990-05-05", "1")
    hold = Verdict(Outcome.HOLD, (Finding(Reason.IDENTITY_MISMATCH, "name"),), suggested_my_number=my_number(1))
    persons = hold_persons(record, hold, registry)
    assert persons == {"registry_person": her, "suggested_person": other}
    message = verdict_message(event(), hold, 3, **persons)
    decoded = codec.decode("verdict", codec.encode("verdict", message))
    assert decoded["registry_person"]["name"] == "山田 花子"
    assert decoded["suggested_person"]["birth_date"] == dt.date(1990, 5, 5)
    assert decoded["via"] == "guard"
    assert hold_persons(record, Verdict(Outcome.PASS), registry) == {}
    no_number = Record("s", "R-2", "", "x", "1990-05-05", "1")
    assert hold_persons(no_number, Verdict(Outcome.HOLD, (Finding(Reason.NOT_IN_REGISTRY),)), registry) == \
        {"registry_person": None, "suggested_person": None}


def test_a_v1_verdict_still_resolves_into_v2_with_defaults():
    v1 = schemas.versions("verdict")[0]
    message = {"event_id": "e-1", "outcome": "HOLD", "reasons": [{"code": "DECEASED", "detail": ""}],
               "suggested_my_number": "", "checked_at": dt.datetime(2026, 4, 1, tzinfo=dt.timezone.utc),
               "version": 1, "record": event()}
    buffer = io.BytesIO()
    buffer.write(schemas.MAGIC + v1.fingerprint)
    fastavro.schemaless_writer(buffer, v1.schema, message)
    decoded = codec.decode("verdict", buffer.getvalue())
    assert decoded["registry_person"] is None and decoded["suggested_person"] is None
    assert decoded["via"] == "guard" and decoded["approved_by"] == ""


def test_the_decision_schema_is_checked_for_compatibility_like_the_others():
    assert "decision" in schemas.NAMES and schemas.latest("decision").version == 1
    assert schemas.latest("verdict").version >= 2  # v3 (issue 13) added the per-field explanation
