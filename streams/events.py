"""Conversions between the guard's values and the Avro messages on the wire.

Pure functions over dicts shaped by the ``.avsc`` files in ``schemas/``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from guards import Finding, Record, Resident, Verdict
from guards.model import build_record, build_resident

__all__ = [
    "record_to_event", "event_to_record", "resident_to_message", "message_to_resident",
    "verdict_message", "dead_letter_message", "utcnow", "person_snapshot", "hold_persons",
    "decision_message", "released_verdict",
]

_RECORD_FIELDS = ("my_number", "name", "name_kana", "birth_date", "sex", "address", "atena_no",
                  "number_source", "entered_by", "batch_id")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def record_to_event(record: Record, *, event_id: str | None = None,
                    occurred_at: dt.datetime | None = None) -> dict[str, Any]:
    """A RecordChanged event for one business record.

    The business system's own 更新日時, if its extract has one, travels in the
    payload and also fills ``updated_at``.
    """
    updated_at = record.payload.get("更新日時") or record.payload.get("updated_at")
    event: dict[str, Any] = {
        "event_id": event_id or str(uuid.uuid4()),
        "system": record.system,
        "record_id": record.record_id,
        "operation": record.operation if record.operation in ("create", "update", "delete") else "update",
        "occurred_at": occurred_at or utcnow(),
        "payload": {str(k): "" if v is None else str(v) for k, v in record.payload.items()},
        "updated_at": updated_at,
    }
    for name in _RECORD_FIELDS:
        event[name] = getattr(record, name) or ""
    return event


def event_to_record(event: dict[str, Any]) -> Record:
    """The guard's view of a decoded RecordChanged event.

    Built by :func:`guards.model.build_record` from every field in order: each stage
    calls this once per record.

    >>> record = Record('shoman', 'S-1', '621498320257', '山田 花子', '1980-04-01', '2', address='高知市本町1-1',
    ...                 name_kana='ヤマダ ハナコ', atena_no='A-7', number_source='申請書', entered_by='staff-7',
    ...                 batch_id='B-1', operation='create', payload={'等級': '1級'})  # every field its own value
    >>> event_to_record(record_to_event(record)) == record
    True
    """
    get = event.get
    return build_record((
        event["system"], event["record_id"], get("my_number") or "", get("name") or "", get("birth_date") or "",
        get("sex") or "", get("address") or "", get("name_kana") or "", get("atena_no") or "",
        get("number_source") or "", get("entered_by") or "", get("batch_id") or "", event["operation"],
        get("payload") or {},
    ))


def resident_to_message(resident: Resident) -> dict[str, Any]:
    return {
        "my_number": resident.my_number, "resident_code": resident.resident_code,
        "name": resident.name, "name_kana": resident.name_kana, "alias_name": resident.alias_name,
        "birth_date": resident.birth_date, "sex": resident.sex, "address": resident.address,
        "status": resident.status, "status_date": resident.status_date,
        "previous_names": list(resident.previous_names),
        "previous_addresses": list(resident.previous_addresses),
        "previous_my_numbers": list(resident.previous_my_numbers),
    }


def message_to_resident(message: dict[str, Any]) -> Resident:
    """A decoded Resident message as the guard's :class:`~guards.Resident` (every stage's registry look-up).

    >>> import datetime as dt
    >>> hanako = Resident('621498320257', '山田 花子', dt.date(1980, 4, 1), 2, '高知市', name_kana='ヤマダ ハナコ',
    ...                   alias_name='ハナ', resident_code='R-1', status='転出', status_date=dt.date(2024, 4, 1),
    ...                   previous_names=('佐藤 花子',), previous_addresses=('高知市旧町',),
    ...                   previous_my_numbers=('123456789018',))  # every field its own value
    >>> message_to_resident(resident_to_message(hanako)) == hanako
    True
    """
    get = message.get
    return build_resident((
        message["my_number"], message["name"], message["birth_date"], message["sex"], message["address"],
        get("name_kana", ""), get("alias_name", ""), get("resident_code", ""), get("status") or "住民",
        get("status_date"), tuple(get("previous_names") or ()), tuple(get("previous_addresses") or ()),
        tuple(get("previous_my_numbers") or ()),
    ))


def verdict_message(event: dict[str, Any], verdict: Verdict, version: int,
                    checked_at: dt.datetime | None = None, *,
                    registry_person: Resident | None = None,
                    suggested_person: Resident | None = None) -> dict[str, Any]:
    """A Verdict message carrying the checked event whole, and the registry persons it was compared with.

    A HOLD carries the per-field explanation against ``registry_person`` (the
    verdict's own, or worked out here from the event when a stage kept only
    the codes).
    """
    return {
        "explanation": explanation_of(event, verdict, registry_person),
        "event_id": event["event_id"],
        "outcome": verdict.outcome.value,
        "reasons": [{"code": f.reason.value, "detail": f.detail} for f in verdict.findings],
        "suggested_my_number": verdict.suggested_my_number,
        "checked_at": checked_at or utcnow(),
        "version": version,
        "record": event,
        "registry_person": person_snapshot(registry_person),
        "suggested_person": person_snapshot(suggested_person),
        "via": "guard",
    }


def explanation_of(event: dict[str, Any], verdict: Verdict,
                   registry_person: Resident | None) -> list[dict[str, str]]:
    """The verdict's per-field explanation as the v3 ``FieldExplanation`` array (HOLD only).

    >>> import datetime as dt
    >>> from guards import Outcome
    >>> person = Resident('621498320257', '齋藤 花子', dt.date(1980, 4, 1), 2, '高知市')
    >>> event = {'system': 's', 'record_id': '1', 'my_number': '621498320257', 'name': '斎藤 花子',
    ...          'birth_date': '1980-04-02', 'sex': '2', 'operation': 'update'}
    >>> [e['match'] for e in explanation_of(event, Verdict(Outcome.HOLD), person)]
    ['variant', 'absent', 'mismatch', 'exact', 'absent']
    """
    if verdict.outcome.value != "HOLD":  # before the imports: most verdicts are a PASS
        return []
    from guards.check import explain
    explained = verdict.explanation
    if not explained and registry_person is not None:
        explained = explain(event_to_record(event), registry_person)
    return [{"field": e.field, "match": e.match.value, "detail": e.detail} for e in explained]


def person_snapshot(resident: Resident | None) -> dict[str, Any] | None:
    """A registry entry as the verdict's ``RegistryPerson`` (None stays None)."""
    return None if resident is None else resident_to_message(resident)


def hold_persons(record: Record, verdict: Verdict, registry: Any) -> dict[str, Resident | None]:
    """The registry persons a reviewer needs beside a HOLD: the number's and the suggested number's.

    Only HOLD verdicts carry them (a PASS goes to the copy, where nobody compares
    by eye). ``registry`` is anything with ``get(number) -> Resident | None``.

    >>> from guards import Outcome
    >>> hold_persons(Record('s', '1', '621498320257', 'x', '1980-04-01', '2'), Verdict(Outcome.PASS), {})
    {}
    """
    from guards import Outcome
    from guards.number import compact

    if verdict.outcome is not Outcome.HOLD:
        return {}
    number = compact(record.my_number)
    suggested = compact(verdict.suggested_my_number)
    return {
        "registry_person": registry.get(number) if number else None,
        "suggested_person": registry.get(suggested) if suggested and suggested != number else None,
    }


def decision_message(*, action: str, system: str, record_id: str, version: int, event_id: str,
                     user: str, comment: str, decision_id: str | None = None,
                     decided_at: dt.datetime | None = None, record: dict[str, Any] | None = None,
                     corrected_event_id: str = "", assignee: str = "") -> dict[str, Any]:
    """A reviewer's Decision, as submitted to ``linkage.decisions``."""
    return {
        "decision_id": decision_id or str(uuid.uuid4()), "action": action, "status": "SUBMITTED",
        "system": system, "record_id": record_id, "version": int(version), "event_id": event_id,
        "user": user, "comment": comment, "decided_at": decided_at or utcnow(),
        "corrected_event_id": corrected_event_id, "assignee": assignee, "requested_by": "",
        "rejection": "", "record": record,
    }


def released_verdict(request: dict[str, Any], approval: dict[str, Any],
                     checked_at: dt.datetime | None = None) -> dict[str, Any]:
    """The PASS verdict of a release approved by a second person: the held event, verified via review.

    The event is the one the *request* named (an approver cannot swap it).
    """
    event = request["record"]
    return {
        "event_id": event["event_id"], "outcome": "PASS", "reasons": [], "suggested_my_number": "",
        "checked_at": checked_at or utcnow(), "version": int(request["version"]), "record": event,
        "registry_person": None, "suggested_person": None, "via": "review",
        "decision_id": approval["decision_id"], "requested_by": request["user"],
        "approved_by": approval["user"],
    }


def findings_of(message: dict[str, Any]) -> tuple[Finding, ...]:
    from guards import Reason

    return tuple(Finding(Reason(r["code"]), r.get("detail", "")) for r in message["reasons"])


def dead_letter_message(*, topic: str, partition: int, offset: int, key: bytes | None,
                        value: bytes | None, reason: str, error: str, stage: str = "guard",
                        system: str = "", record_id: str = "") -> dict[str, Any]:
    return {
        "topic": topic, "partition": partition, "offset": offset, "key": key, "value": value,
        "reason": reason, "error": error, "stage": stage, "system": system,
        "record_id": record_id, "failed_at": utcnow(),
    }
