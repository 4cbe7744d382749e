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
other text goes through :func:`guards.masking.redact` (what may be shown, and
the fixes of a replay, are :mod:`linkguard.ops.deadletters`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from guards.masking import redact
from linkguard.cli.common import console, database_engine, database_failure, err, fail, kafka_settings
from linkguard.ops.deadletters import (ReplayRefused, apply_fixes, decode_letter, decoded_fields, describe, iso_time,
                                       key_text, parse_fixes)

__all__ = ["dlq_app"]

dlq_app = typer.Typer(help="Dead letters: list them, show one, fix and replay it through the guard.",
                      no_args_is_help=True)

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
    info["key"] = key_text(letter.raw_key)
    event, problem = decode_letter(letter, schemas.Codec())
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
        fail(f"dead letter {letter_id} was already replayed at {iso_time(letter.replayed_at)}; "
              f"--force replays it again")
    if letter.source_topic != records_topic:
        fail(f"dead letter {letter_id} came from {letter.source_topic} (stage {letter.stage}), not from the "
              f"records topic {records_topic}: only records can be replayed"
              + ("" if not letter.source_topic.endswith(topics.RECORDS)
                 else " (is LINKGUARD_TOPIC_PREFIX the one of the deployment that wrote it?)"))
    if letter.raw_value is None:
        fail(f"dead letter {letter_id} has no stored value: there is nothing to replay")

    codec = schemas.Codec()
    event, problem = decode_letter(letter, codec)
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
                      f"as {escape(summary)}, key {escape(key_text(key) or '(none)')}")
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
        fail(f"dead letter {letter_id} was not replayed: the broker did not take it ({redact(str(message))})")
    where = ", ".join(f"{topic}[{partition}]@{offset - 1}" for (topic, partition), offset in
                      sorted(result.next_offsets.items()))
    console.print(f"replayed dead letter {letter_id} as {escape(summary)} to {escape(where)}; "
                  f"the guard checks it like any other record")
