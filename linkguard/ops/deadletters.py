"""Dead letters as the operators see and fix them: what may be shown of one, and the fixes of a replay.

Pure functions over a stored dead letter (``sinks.models.DeadLetter``) and a decoded
``RecordChanged``; the commands (``linkguard dlq list|show|replay``) are in
:mod:`linkguard.cli.dlq`. Nothing here returns a My Number: a decoded record's number is
masked (``**** **** 0257``), every other text goes through :func:`guards.masking.redact`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from guards.exceptions import LinkguardError
from guards.masking import mask, redact

__all__ = ["FIELDS", "OPERATIONS", "ReplayRefused", "describe", "decoded_fields", "key_text", "decode_letter",
           "parse_fixes", "apply_fixes", "iso_time"]

#: RecordChanged fields an operator may fix with --set (plus payload.<key>); event_id is always new,
#: occurred_at stays what the business system said
FIELDS = ("my_number", "name", "name_kana", "birth_date", "sex", "address", "atena_no", "number_source",
          "entered_by", "batch_id", "operation", "system", "record_id", "updated_at")
OPERATIONS = ("create", "update", "delete")


class ReplayRefused(LinkguardError, ValueError):
    """A fix or replay that cannot be done; the message says why and what to do instead."""


def iso_time(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def describe(letter) -> dict[str, Any]:
    """A dead letter's metadata, safe to print: no raw value, no My Number.

    ``error``, ``system`` and ``record_id`` go through :func:`guards.masking.redact`
    (errors are written number-free, and a 12-digit record id is masked too).
    """
    return {
        "id": letter.id, "failed_at": iso_time(letter.failed_at), "stage": letter.stage,
        "reason": letter.reason, "source_topic": letter.source_topic,
        "source_partition": letter.source_partition, "source_offset": letter.source_offset,
        "system": redact(letter.system or ""), "record_id": redact(letter.record_id or ""),
        "replayed": letter.replayed_at is not None, "replayed_at": iso_time(letter.replayed_at),
        "error": redact(letter.error or ""),
        "value_bytes": None if letter.raw_value is None else len(letter.raw_value),
    }


def _safe(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {redact(str(k)): _safe(v) for k, v in value.items()}
    return value


def decoded_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    """A decoded RecordChanged for a screen: the number masked, every other text redacted."""
    fields = {name: _safe(value) for name, value in event.items() if name != "my_number"}
    fields["my_number"] = mask(str(event.get("my_number") or ""))
    return {name: fields[name] for name in event if name in fields}


def key_text(key: bytes | None) -> str | None:
    if key is None:
        return None
    return redact(key.decode("utf-8", errors="replace").replace("\x1f", " / "))


def decode_letter(letter, codec) -> tuple[dict[str, Any] | None, str]:
    """The stored value as a RecordChanged, or None and why not (a DecodeError never quotes content)."""
    import schemas
    if letter.raw_value is None:
        return None, "no value was stored with this dead letter"
    try:
        return codec.decode("record_changed", letter.raw_value), ""
    except schemas.DecodeError as e:
        return None, redact(str(e))


def parse_fixes(items: list[str]) -> dict[str, str]:
    """``FIELD=VALUE`` options as a dict; unknown fields refused.

    >>> parse_fixes(['birth_date=1989-01-07', 'payload.等級=1級', 'name=a=b'])
    {'birth_date': '1989-01-07', 'payload.等級': '1級', 'name': 'a=b'}
    >>> parse_fixes(['event_id=x'])
    Traceback (most recent call last):
    ...
    linkguard.ops.deadletters.ReplayRefused: --set event_id: cannot be set (a replay always gets a new event_id); fields: my_number, name, name_kana, birth_date, sex, address, atena_no, number_source, entered_by, batch_id, operation, system, record_id, updated_at, payload.<key>
    """
    fixes: dict[str, str] = {}
    for item in items:
        field, sep, value = item.partition("=")
        field = field.strip()
        if not sep or not field:
            raise ReplayRefused(f"--set needs FIELD=VALUE, got {redact(item)!r}")
        if field not in FIELDS and not (field.startswith("payload.") and len(field) > len("payload.")):
            why = ("a replay always gets a new event_id" if field == "event_id"
                   else "it stays what the business system said" if field == "occurred_at" else "unknown field")
            raise ReplayRefused(f"--set {redact(field)}: cannot be set ({why}); fields: "
                                f"{', '.join(FIELDS)}, payload.<key>")
        fixes[field] = value
    return fixes




def apply_fixes(event: Mapping[str, Any], fixes: Mapping[str, str], *,
                event_id: str | None = None) -> dict[str, Any]:
    """The replayed event: ``event`` with the fixes and a new event_id, everything else kept.

    >>> event = {'event_id': 'old', 'operation': 'update', 'birth_date': '昭和64年1月8日',
    ...          'payload': {'等級': '2級'}, 'updated_at': None}
    >>> fixed = apply_fixes(event, {'birth_date': '1989-01-07', 'payload.等級': '1級'}, event_id='new')
    >>> fixed['event_id'], fixed['birth_date'], fixed['payload'], event['payload']
    ('new', '1989-01-07', {'等級': '1級'}, {'等級': '2級'})
    """
    fixed = dict(event)
    fixed["payload"] = dict(event.get("payload") or {})
    for field, value in fixes.items():
        if field.startswith("payload."):
            fixed["payload"][field[len("payload."):]] = value
        elif field == "operation":
            if value not in OPERATIONS:
                raise ReplayRefused(f"--set operation: one of {', '.join(OPERATIONS)}, not {redact(value)!r}")
            fixed[field] = value
        elif field == "updated_at":
            fixed[field] = value or None
        else:
            fixed[field] = value
    fixed["event_id"] = event_id or str(uuid.uuid4())
    return fixed


