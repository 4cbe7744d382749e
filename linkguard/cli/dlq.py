"""``linkguard dlq list|show|replay``: look at dead letters, fix one, and send it through the guard again.

A dead letter (``dead_letters`` in the sink database) is a message on the
records topic that the guard could not check: bytes that are not Avro, a
RecordChanged with a missing field, an impossible date, a malformed number …
An operator lists them, looks at one, fixes the wrong fields and replays it:

    linkguard dlq list --reason BAD_DATE
    linkguard dlq show 42
    linkguard dlq replay 42 --set birth_date=1989-01-07
    linkguard dlq replay 43 --set my_number=-      # the number from a hidden prompt / stdin

A replay is a *new* event (new ``event_id``, everything else kept but the
fixes) published to the records topic under the record's key; it is checked
by the guard like any other and reaches the intermediate server only with a
PASS. The dead letter is marked ``replayed_at`` and is not replayed twice
without ``--force``.

My Numbers are 特定個人情報: nothing here prints one. The raw value is never
shown; a decoded record's number is masked (``**** **** 0257``) and every
other text goes through :func:`guards.masking.redact`.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from guards.exceptions import LinkguardError
from linkguard.cli.common import console, database_engine, database_failure, err, fail, kafka_settings

__all__ = ["dlq_app", "FIELDS", "apply_fixes", "describe", "decoded_fields", "ReplayRefused"]

dlq_app = typer.Typer(help="Dead letters: list them, show one, fix and replay it through the guard.",
                      no_args_is_help=True)

#: RecordChanged fields an operator may fix with --set (plus payload.<key>); event_id is always new,
#: occurred_at stays what the business system said
FIELDS = ("my_number", "name", "name_kana", "birth_date", "sex", "address", "atena_no", "number_source",
          "entered_by", "batch_id", "operation", "system", "record_id", "updated_at")
OPERATIONS = ("create", "update", "delete")


class ReplayRefused(LinkguardError, ValueError):
    """A fix or replay that cannot be done; the message says why and what to do instead."""


# -- settings and database ---------------------------------------------------------------

def _writer():
    """The sink database's writer (reads and the replay mark only; no schema is created)."""
    from sinks import SinkWriter

    return SinkWriter(database_engine())


def _reading(fn, *args, **kw):
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return fn(*args, **kw)
    except SQLAlchemyError as e:
        database_failure(e)


# -- what may be shown -------------------------------------------------------------------
def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def describe(letter) -> dict[str, Any]:
    """A dead letter's metadata, safe to print: no raw value, no My Number.

    ``error``, ``system`` and ``record_id`` go through :func:`guards.masking.redact`
    (errors are written number-free, and a 12-digit record id is masked too).
    """
    from guards.masking import redact

    return {
        "id": letter.id, "failed_at": _time(letter.failed_at), "stage": letter.stage,
        "reason": letter.reason, "source_topic": letter.source_topic,
        "source_partition": letter.source_partition, "source_offset": letter.source_offset,
        "system": redact(letter.system or ""), "record_id": redact(letter.record_id or ""),
        "replayed": letter.replayed_at is not None, "replayed_at": _time(letter.replayed_at),
        "error": redact(letter.error or ""),
        "value_bytes": None if letter.raw_value is None else len(letter.raw_value),
    }


def _safe(value: Any) -> Any:
    from guards.masking import redact

    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {redact(str(k)): _safe(v) for k, v in value.items()}
    return value


def decoded_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    """A decoded RecordChanged for a screen: the number masked, every other text redacted."""
    from guards.masking import mask

    fields = {name: _safe(value) for name, value in event.items() if name != "my_number"}
    fields["my_number"] = mask(str(event.get("my_number") or ""))
    return {name: fields[name] for name in event if name in fields}


def _key_text(key: bytes | None) -> str | None:
    from guards.masking import redact

    if key is None:
        return None
    return redact(key.decode("utf-8", errors="replace").replace("\x1f", " / "))


def _decode(letter, codec) -> tuple[dict[str, Any] | None, str]:
    """The stored value as a RecordChanged, or None and why not (a DecodeError never quotes content)."""
    import schemas
    from guards.masking import redact

    if letter.raw_value is None:
        return None, "no value was stored with this dead letter"
    try:
        return codec.decode("record_changed", letter.raw_value), ""
    except schemas.DecodeError as e:
        return None, redact(str(e))


def _short(iso: str | None) -> str:
    """'2026-04-01T09:00:03+00:00' → '2026-04-01 09:00:03' (the table says UTC)."""
    return iso[:19].replace("T", " ") if iso else ""


# -- list --------------------------------------------------------------------------------
@dlq_app.command("list")
def list_command(
    reason: Annotated[Optional[str], typer.Option(help="one reason code, e.g. BAD_DATE (matches 'BAD_DATE;BAD_SEX' too)")] = None,
    stage: Annotated[Optional[str], typer.Option(help="who gave up: guard, registry, sink")] = None,
    pending: Annotated[bool, typer.Option("--pending", help="only dead letters not replayed yet")] = False,
    limit: Annotated[int, typer.Option(min=1, help="at most this many, newest first")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON array")] = False,
) -> None:
    """Dead letters, newest first: where each came from, why, and whether it was replayed.

    Never shows the message itself; `linkguard dlq show ID` decodes one with
    the My Number masked.
    """
    writer = _writer()
    letters = _reading(writer.find_dead_letters, reason=reason, stage=stage,
                       replayed=False if pending else None, limit=limit)
    rows = [describe(letter) for letter in letters]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        console.print("no dead letters" + (" matching" if reason or stage or pending else ""))
        return
    from rich.table import Table

    table = Table(title=f"dead letters ({len(rows)} shown, newest first)")
    for column in ("id", "failed at (UTC)", "stage", "reason", "source", "system", "record id", "replayed"):
        table.add_column(column, justify="right" if column == "id" else "left", overflow="fold")
    for row in rows:
        table.add_row(
            str(row["id"]), _short(row["failed_at"]), escape(row["stage"]), escape(row["reason"]),
            escape(f"{row['source_topic']}[{row['source_partition']}]@{row['source_offset']}"),
            escape(row["system"]), escape(row["record_id"]), _short(row["replayed_at"]) or "no")
    console.print(table)


# -- show --------------------------------------------------------------------------------
@dlq_app.command("show")
def show_command(
    letter_id: Annotated[int, typer.Argument(metavar="ID", help="dead-letter id (from `linkguard dlq list`)")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """One dead letter: where, why, and its record's fields with the My Number masked."""
    import schemas

    writer = _writer()
    letter = _reading(writer.dead_letter, letter_id)
    if letter is None:
        fail(f"no dead letter {letter_id}")
    info = describe(letter)
    info["key"] = _key_text(letter.raw_key)
    event, problem = _decode(letter, schemas.Codec())
    info["record"] = decoded_fields(event) if event is not None else None
    info["undecodable"] = problem or None
    if as_json:
        typer.echo(json.dumps(info, ensure_ascii=False))
        return
    from rich.table import Table

    meta = Table(show_header=False, title=f"dead letter {letter_id}", title_justify="left")
    meta.add_column(style="bold")
    meta.add_column(overflow="fold")
    for name in ("failed_at", "stage", "reason", "error", "source_topic", "source_partition",
                 "source_offset", "key", "system", "record_id", "value_bytes", "replayed_at"):
        value = info[name]
        meta.add_row(name, escape("" if value is None else str(value)) if name != "replayed_at"
                     else (value or "not replayed"))
    console.print(meta)
    if event is None:
        console.print(f"[yellow]the value is not a RecordChanged:[/] {escape(problem)}")
        return
    record = Table(show_header=False, title="RecordChanged (My Number masked)", title_justify="left")
    record.add_column(style="bold")
    record.add_column(overflow="fold")
    for name, value in info["record"].items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        record.add_row(name, escape("" if value is None else str(value)))
    console.print(record)
    if letter.replayed_at is None:
        console.print(f"fix and replay: linkguard dlq replay {letter_id} --set FIELD=VALUE …")


# -- replay ------------------------------------------------------------------------------
def parse_fixes(items: list[str]) -> dict[str, str]:
    """``FIELD=VALUE`` options as a dict; unknown fields refused.

    >>> parse_fixes(['birth_date=1989-01-07', 'payload.等級=1級', 'name=a=b'])
    {'birth_date': '1989-01-07', 'payload.等級': '1級', 'name': 'a=b'}
    >>> parse_fixes(['event_id=x'])
    Traceback (most recent call last):
    ...
    linkguard.cli.dlq.ReplayRefused: --set event_id: cannot be set (a replay always gets a new event_id); fields: my_number, name, name_kana, birth_date, sex, address, atena_no, number_source, entered_by, batch_id, operation, system, record_id, updated_at, payload.<key>
    """
    fixes: dict[str, str] = {}
    for item in items:
        field, sep, value = item.partition("=")
        field = field.strip()
        if not sep or not field:
            raise ReplayRefused(f"--set needs FIELD=VALUE, got {_redacted(item)!r}")
        if field not in FIELDS and not (field.startswith("payload.") and len(field) > len("payload.")):
            why = ("a replay always gets a new event_id" if field == "event_id"
                   else "it stays what the business system said" if field == "occurred_at" else "unknown field")
            raise ReplayRefused(f"--set {_redacted(field)}: cannot be set ({why}); fields: "
                                f"{', '.join(FIELDS)}, payload.<key>")
        fixes[field] = value
    return fixes


def _redacted(text: str) -> str:
    from guards.masking import redact

    return redact(text)


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
                raise ReplayRefused(f"--set operation: one of {', '.join(OPERATIONS)}, not {_redacted(value)!r}")
            fixed[field] = value
        elif field == "updated_at":
            fixed[field] = value or None
        else:
            fixed[field] = value
    fixed["event_id"] = event_id or str(uuid.uuid4())
    return fixed


def _ask_secrets(fixes: dict[str, str]) -> None:
    """``--set my_number=-``: read the value from a hidden prompt (or stdin), not the command line."""
    for field, value in fixes.items():
        if value == "-":
            fixes[field] = typer.prompt(f"{field}", hide_input=True, err=True).strip()


@dlq_app.command("replay")
def replay_command(
    letter_id: Annotated[int, typer.Argument(metavar="ID", help="dead-letter id (from `linkguard dlq list`)")],
    fix: Annotated[Optional[list[str]], typer.Option(
        "--set", metavar="FIELD=VALUE",
        help="fix a field before replaying (repeatable), e.g. birth_date=1989-01-07, payload.等級=1級; "
             "VALUE '-' asks for it without echo (use it for my_number: keeps the number out of shell history)")] = None,
    force: Annotated[bool, typer.Option("--force", help="replay a dead letter that was already replayed")] = False,
    as_is: Annotated[bool, typer.Option("--as-is", help="send a value that is not a RecordChanged unchanged "
                                                        "(it cannot be fixed here)")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would be sent (number masked); send nothing")] = False,
) -> None:
    """Fix a dead letter's record and publish it again to the records topic, through the guard.

    The replay is a new RecordChanged event (new event_id, the fixes applied,
    everything else kept) under the original key; the guard checks it like
    any other record. The dead letter is marked replayed, and is not replayed
    twice without --force. A value that is not a RecordChanged can only be sent
    unchanged (--as-is). Needs LINKGUARD_KAFKA_BOOTSTRAP and LINKGUARD_DATABASE_URL.
    """
    import schemas
    from streams import topics
    from streams.settings import KafkaSettings

    if dry_run:
        settings = KafkaSettings()
    else:
        settings = kafka_settings()
    records_topic = topics.names(settings).records
    try:
        fixes = parse_fixes(fix or [])
    except ReplayRefused as e:
        fail(str(e))

    writer = _writer()
    letter = _reading(writer.dead_letter, letter_id)
    if letter is None:
        fail(f"no dead letter {letter_id}")
    if letter.replayed_at is not None and not force:
        fail(f"dead letter {letter_id} was already replayed at {_time(letter.replayed_at)}; "
              f"--force replays it again")
    if letter.source_topic != records_topic:
        fail(f"dead letter {letter_id} came from {letter.source_topic} (stage {letter.stage}), not from the "
              f"records topic {records_topic}: only records can be replayed"
              + ("" if not letter.source_topic.endswith(topics.RECORDS)
                 else " (is LINKGUARD_TOPIC_PREFIX the one of the deployment that wrote it?)"))
    if letter.raw_value is None:
        fail(f"dead letter {letter_id} has no stored value: there is nothing to replay")

    codec = schemas.Codec()
    event, problem = _decode(letter, codec)
    if event is None:
        if fixes:
            fail(f"dead letter {letter_id} is not a RecordChanged ({problem}), so it cannot be fixed here; "
                  f"replay it unchanged with --as-is, or correct it in the business system and publish it again")
        if not as_is:
            fail(f"dead letter {letter_id} is not a RecordChanged ({problem}); it can only be sent unchanged: "
                  f"add --as-is (the guard dead-letters it again unless it now decodes)")
        key, value, summary = letter.raw_key, letter.raw_value, f"{len(letter.raw_value):,} bytes unchanged"
        replayed_event: dict[str, Any] | None = None
    else:
        if as_is:
            fail(f"dead letter {letter_id} decodes as a RecordChanged: replay it without --as-is "
                  f"(it gets a new event_id)")
        _ask_secrets(fixes)
        try:
            fixed = apply_fixes(event, fixes)
            value = codec.encode("record_changed", fixed)
        except ReplayRefused as e:
            fail(str(e))
        except (ValueError, TypeError) as e:  # fastavro refusing a value; its text may quote it
            fail(f"the fixed record does not encode as a RecordChanged ({type(e).__name__})")
        if (fixed["system"], fixed["record_id"]) == (event["system"], event["record_id"]) and letter.raw_key is not None:
            key = letter.raw_key
        else:  # a corrected system code or record id: the record's own key keeps its events in order
            key = topics.record_key(fixed["system"], fixed["record_id"])
        changed = ", ".join(fixes) or "nothing"
        replayed_event = fixed
        summary = f"event {fixed['event_id']} (fixed: {changed})"

    if dry_run:
        console.print(f"[bold]dry run[/]: would send dead letter {letter_id} to {records_topic} "
                      f"as {escape(summary)}, key {escape(_key_text(key) or '(none)')}")
        if replayed_event is not None:
            console.print(decoded_fields(replayed_event))
        return

    from sqlalchemy.exc import SQLAlchemyError

    from streams.publish import Publisher, PublishError

    previous = letter.replayed_at
    try:
        claimed = writer.mark_replayed(letter_id, force=force)
    except SQLAlchemyError as e:
        database_failure(e)
    if not claimed:
        fail(f"dead letter {letter_id} was replayed by someone else just now; --force replays it again")
    try:
        topics.ensure_topics(settings)
        with Publisher(settings, linger_ms=0) as publisher:
            publisher.send_raw(records_topic, key, value)
            result = publisher.flush(timeout=60)
    except Exception as e:  # nothing was acknowledged: give the dead letter back
        try:
            writer.unmark_replayed(letter_id, previous=previous)
        except SQLAlchemyError:
            err.print(f"[red]the replay mark of dead letter {letter_id} could not be undone; "
                      f"replay it with --force[/]")
        message = e.args[0] if isinstance(e, PublishError) and e.args else type(e).__name__
        fail(f"dead letter {letter_id} was not replayed: the broker did not take it ({_redacted(str(message))})")
    where = ", ".join(f"{topic}[{partition}]@{offset - 1}" for (topic, partition), offset in
                      sorted(result.next_offsets.items()))
    console.print(f"replayed dead letter {letter_id} as {escape(summary)} to {escape(where)}; "
                  f"the guard checks it like any other record")
