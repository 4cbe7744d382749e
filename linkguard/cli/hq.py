"""``linkguard hq …`` (the headquarters, 総点検本部) and ``linkguard exposure``.

Every command reads the sink database (``LINKGUARD_DATABASE_URL``); those
that change something act as an account (``--user`` or
``LINKGUARD_REVIEW_USER``) holding the ``headquarters`` role (stops: or
``admin``), and are audited. Stops and resumes are published to the guard
(``linkage.control``; Kafka settings as for every command) once a second
person approved them. No command prints a full My Number.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from guards.masking import redact
from linkguard.cli.common import console, fail

__all__ = ["hq_app", "exposure_command"]

hq_app = typer.Typer(help="The headquarters (総点検本部): board, survey, rounds, uploads, exports, stops, letters.",
                     no_args_is_help=True)
round_app = typer.Typer(help="Inspection rounds and their due dates.", no_args_is_help=True)
stop_app = typer.Typer(help="Stop a process's linkage (連携停止) and resume it: four-eyes, audited.",
                       no_args_is_help=True)
hq_app.add_typer(round_app, name="round")
hq_app.add_typer(stop_app, name="stop")

UserOption = Annotated[Optional[str], typer.Option(
    "--user", "-u", envvar="LINKGUARD_REVIEW_USER", help="the account acting (or LINKGUARD_REVIEW_USER)")]
RoundOption = Annotated[Optional[int], typer.Option("--round", help="inspection round id (default: the latest)")]


def _engine():
    from linkguard.cli.common import database_engine
    from sinks import SinkWriter

    engine = database_engine()
    try:
        SinkWriter(engine).create_schema()  # the headquarters' tables on a database the sink made earlier
    except Exception as e:  # noqa: BLE001 - one clear line instead of a traceback
        fail(f"sink database (LINKGUARD_DATABASE_URL): {type(e).__name__}: cannot create or read the tables")
    return engine


def _acting(engine, username: str | None, *roles: str):
    from linkguard.cli.auth import authenticate

    user = authenticate(engine, username)  # the user's password or API token, never a name alone
    username = user.username
    wanted = roles or ("headquarters",)
    if not any(user.can(r) for r in wanted):
        fail(f"{username} needs the role {' or '.join(wanted)} for this command")
    return user


def _catalogue():
    from linkguard.catalogue import CatalogueError, load_catalogue

    try:
        return load_catalogue()
    except CatalogueError as e:
        fail(str(e))


# -- the board -----------------------------------------------------------------------------
@hq_app.command("board")
def board_command(
    round_id: RoundOption = None,
    today: Annotated[Optional[str], typer.Option(help="count status as of this date (YYYY-MM-DD)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document")] = False,
) -> None:
    """The board: per process (grouped by 担当課 and マイナポータル区分) and implementing body, counted from the stores."""
    from linkguard.hq.board import build_board

    day = _date(today, "--today") if today else None
    board = build_board(_engine(), _catalogue(), round_id=round_id, today=day)
    if as_json:
        console.print_json(json.dumps(_board_json(board), ensure_ascii=False))
        return
    title = f"{board.round.name}（期限 {board.round.due_on}）" if board.round else "点検回なし（期限なし）"
    table = Table(title=f"総点検本部 — {title}")
    for header in ("項番", "事務", "担当課", "区分", "全件点検"):
        table.add_column(header)
    for body in board.bodies:
        table.add_column(body)
    for row in board.rows:
        cells = []
        for body in board.bodies:
            c = row.cells.get(body)
            cells.append("—" if c is None else escape(
                f"{c.status.value} 点検{c.inspected:,} 保留{c.held:,} 誤り{c.confirmed:,} 訂正{c.corrected:,}"
                + (f" {c.stop_label}" if c.stop_label else "") + (f" 漏えい{c.exposures}" if c.exposures else "")
                + (" 報告済" if c.reported else "")))
        p = row.process
        table.add_row(str(p.number), escape(p.name), escape(p.department),
                      escape(p.category.name if p.category else "—"),
                      "要" if row.classification.full_inspection else "否", *cells)
    console.print(table)
    console.print(" ".join(f"{s}: {n}" for s, n in sorted(board.totals.items())))


def _board_json(board) -> dict[str, Any]:
    return {
        "round": {"id": board.round.id, "name": board.round.name, "due_on": board.round.due_on.isoformat()}
        if board.round else None,
        "today": board.today.isoformat(), "bodies": board.bodies,
        "processes": [{
            "number": r.process.number, "code": r.process.code, "name": r.process.name,
            "department": r.process.department,
            "category": r.process.category.name if r.process.category else None,
            "survey": r.process.method.value if r.process.method else None,
            "full_inspection": r.classification.requirement.name, "sources_flagged": r.sources.flagged,
            "cells": {body: {"status": c.status.name, "inspected": c.inspected, "held": c.held,
                             "open_holds": c.open_holds, "confirmed": c.confirmed, "corrected": c.corrected,
                             "stop": c.stop, "exposures": c.exposures, "lettered": c.lettered,
                             "reported": c.reported} for body, c in r.cells.items()},
        } for r in board.rows],
    }


@hq_app.command("survey")
def survey_command() -> None:
    """The survey per process: answer, the ministries' classification, and what the records say."""
    from linkguard.hq.board import build_board

    board = build_board(_engine(), _catalogue())
    table = Table(title="取得方法の調査と全件点検の要否")
    for header in ("項番", "事務", "区分", "回答", "全件点検", "記録の取得経路", "照合"):
        table.add_column(header)
    for row in board.rows:
        p = row.process
        sources = " ".join(f"{s}{n}" for s, n in row.sources.counts if n) or "記録なし"
        table.add_row(str(p.number), escape(p.name), escape(p.category.name if p.category else "—"),
                      escape(p.method.label if p.method else "未回答"), row.classification.requirement.value,
                      escape(sources), ("[red]要確認[/] " if row.sources.flagged else "") + escape(row.sources.note))
    console.print(table)


# -- rounds and uploads ----------------------------------------------------------------------
def _date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        fail(f"{option}: a date as YYYY-MM-DD, not {redact(text)!r}")
        raise


@round_app.command("add")
def round_add(
    name: Annotated[str, typer.Argument(help="e.g. 令和5年度 総点検")],
    start: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    due: Annotated[str, typer.Option(help="YYYY-MM-DD: cells not done by then are overdue")],
    user: UserOption = None,
) -> None:
    """Open an inspection round with its due date."""
    from linkguard.hq.board import create_round

    engine = _engine()
    acting = _acting(engine, user)
    try:
        rnd = create_round(engine, name, _date(start, "--start"), _date(due, "--due"), acting.username)
    except ValueError as e:
        fail(str(e))
    console.print(f"round {rnd.id}: {escape(rnd.name)}, due {rnd.due_on}")


@round_app.command("list")
def round_list() -> None:
    """The inspection rounds, newest due date first."""
    from linkguard.hq.board import rounds

    for rnd in rounds(_engine()):
        console.print(f"{rnd.id}\t{escape(rnd.name)}\t{rnd.starts_on} – {rnd.due_on}")


@hq_app.command("upload")
def upload_command(
    report: Annotated[Path, typer.Argument(help="the report.csv that `linkguard inspect` wrote")],
    body: Annotated[str, typer.Option(help="the implementing body it is from, e.g. 高知市")],
    round_id: RoundOption = None,
    user: UserOption = None,
) -> None:
    """Register an inspection (a municipality's report.csv, or the prefecture's own): validated first."""
    from linkguard.hq.board import latest_round
    from linkguard.hq.uploads import UploadError, parse_report, register_report

    engine = _engine()
    acting = _acting(engine, user)
    try:
        data = report.read_bytes()
    except OSError as e:
        fail(f"{report}: cannot read: {e.strerror or e}")
    try:
        parsed = parse_report(data, str(report), _catalogue())
    except UploadError as e:
        fail(f"refused: {e}")
    if round_id is None:
        latest = latest_round(engine)
        if latest is None:
            fail("no inspection round yet: open one with `linkguard hq round add`")
        round_id = latest.id
    try:
        n = register_report(engine, round_id, body, parsed, file=report.name, user=acting.username)
    except ValueError as e:
        fail(str(e))
    console.print(f"registered {n} processes of {escape(body)} in round {round_id}")


@hq_app.command("export")
def export_command(
    out: Annotated[Path, typer.Option(help="directory for hq-processes.csv, hq-causes.csv and hq-report.html")],
    round_id: RoundOption = None,
    user: UserOption = None,
) -> None:
    """The published tables: per process (with 計) and per cause, as CSV (UTF-8 with BOM) and an A4 page."""
    from linkguard.hq.board import build_board
    from linkguard.hq.exports import cause_table, process_table, render_export, to_csv
    from sinks.audit import append_entry

    engine = _engine()
    acting = _acting(engine, user)
    board = build_board(engine, _catalogue(), round_id=round_id)
    processes, causes = process_table(board), cause_table(engine)
    out.mkdir(parents=True, exist_ok=True)
    (out / "hq-processes.csv").write_bytes(to_csv(processes))
    (out / "hq-causes.csv").write_bytes(to_csv(causes))
    title = f"個人番号の紐付けに関する点検結果{'（' + board.round.name + '）' if board.round else ''}"
    (out / "hq-report.html").write_text(render_export(board, processes, causes, title=title), encoding="utf-8")
    append_entry(engine, acting.username, "hq_export", "", "", f"exported to {out.name}")
    console.print(escape(f"wrote {out / 'hq-processes.csv'}, {out / 'hq-causes.csv'} and {out / 'hq-report.html'}"))


# -- stops ------------------------------------------------------------------------------------
def _stops(engine, *, publishing: bool):
    from linkguard.hq.stops import StopService, kafka_publisher

    if publishing:
        from linkguard.cli.common import kafka_settings

        publish = kafka_publisher(kafka_settings())
    else:
        def publish(message: dict) -> None:  # pragma: no cover - requests never publish
            raise RuntimeError("a request does not publish")
    return StopService(engine, publish, _catalogue())


def _stop_step(action: str, target: str, username: str | None, *more: str, publishing: bool) -> None:
    """One step of a stop (``action`` names the StopService method) by headquarters or an admin; prints the stop."""
    from linkguard.hq.stops import StopError

    engine = _engine()
    step = getattr(_stops(engine, publishing=publishing), action)
    try:
        stop = step(target, _acting(engine, username, "headquarters", "admin"), *more)
    except StopError as e:
        fail(str(e))
    _print_stop(stop)


def _print_stop(stop) -> None:
    console.print(f"{stop.stop_id}\t{stop.system}\t{stop.status}\trequested by {stop.requested_by}"
                  + (f", approved by {stop.approved_by}" if stop.approved_by else "")
                  + (f", resume by {stop.resume_requested_by}" if stop.resume_requested_by else "")
                  + (f", resumed with {stop.resume_approved_by}" if stop.resume_approved_by else ""))


@stop_app.command("request")
def stop_request(code: Annotated[str, typer.Argument(help="process code, e.g. shintai-techo")],
                 reason: Annotated[str, typer.Option(help="why the linkage must stop")],
                 user: UserOption = None) -> None:
    """Request a stop of the process's linkage (another person approves it)."""
    _stop_step("request_stop", code, user, reason, publishing=False)


@stop_app.command("approve")
def stop_approve(stop_id: str, user: UserOption = None) -> None:
    """Approve a requested stop: the guard holds the process's records and withdraws its copies."""
    _stop_step("approve_stop", stop_id, user, publishing=True)


@stop_app.command("resume")
def stop_resume(stop_id: str, reason: Annotated[str, typer.Option(help="what was inspected and corrected")],
                user: UserOption = None) -> None:
    """Request the resumption of a stopped process (another person approves it)."""
    _stop_step("request_resume", stop_id, user, reason, publishing=False)


@stop_app.command("approve-resume")
def stop_approve_resume(stop_id: str, user: UserOption = None) -> None:
    """Approve a resumption: the guard judges the held records again and sends on what passes."""
    _stop_step("approve_resume", stop_id, user, publishing=True)


@stop_app.command("refuse")
def stop_refuse(stop_id: str, user: UserOption = None) -> None:
    """Refuse an open stop or resume request."""
    _stop_step("refuse", stop_id, user, publishing=False)


@stop_app.command("list")
def stop_list(code: Annotated[Optional[str], typer.Argument(help="only this process")] = None) -> None:
    """Every stop, newest first."""
    engine = _engine()
    for stop in _stops(engine, publishing=False).list(code):
        _print_stop(stop)


# -- exposure and letters -----------------------------------------------------------------------
def _registry(path: Path | None, encoding: str | None):
    if path is None:
        return None
    from guards.number import compact
    from streams.csvio import CsvError, read_registry

    try:
        return {compact(r.my_number): r for r in read_registry(path, encoding=encoding)}
    except (CsvError, OSError) as e:
        fail(str(e))


def exposure_command(
    system: Annotated[Optional[str], typer.Option(help="only this process code")] = None,
    registry: Annotated[Optional[Path], typer.Option(help="a registry extract for names and addresses")] = None,
    encoding: Annotated[Optional[str], typer.Option(help="the registry's encoding, e.g. cp932")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document")] = False,
) -> None:
    """The exposure investigation (情報漏洩の有無): each wrong copy, how long it was visible, to whom, which items."""
    from linkguard.hq.exposure import list_exposures

    cases = list_exposures(_engine(), _catalogue(), system=system, registry=_registry(registry, encoding))
    if as_json:
        console.print_json(json.dumps([{
            "case": e.case_id, "system": e.process.code, "record_id": e.record_id, "cause": e.cause,
            "since": e.since.isoformat(), "until": e.until.isoformat(), "number": e.masked_number,
            "number_holder": e.number_holder.name, "data_subject": e.data_subject.name,
            "items": list(e.payload_fields), "provided_onward": e.provided_onward, "review": e.review_status,
            "letters": e.letters} for e in cases], ensure_ascii=False))
        return
    table = Table(title=f"漏えい調査 — {len(cases)}件")
    for header in ("番号", "事務", "レコード", "経緯", "期間", "番号（下4桁）", "番号の持ち主", "情報の本人", "項目",
                   "提供", "審査", "通知"):
        table.add_column(header)
    for e in cases:
        table.add_row(str(e.case_id), escape(e.process.name), escape(e.record_id), e.cause_label,
                      f"{e.since:%Y-%m-%d %H:%M} – {e.until:%Y-%m-%d %H:%M}（{e.duration}）", e.masked_number,
                      escape(e.number_holder.name or "（台帳で確認）"), escape(e.data_subject.name),
                      escape("、".join(e.payload_fields)), e.onward_label, e.review_label, str(e.letters))
    console.print(table)


@hq_app.command("onward")
def onward_command(
    case: Annotated[int, typer.Argument(help="the exposure case number")],
    provided: Annotated[bool, typer.Option("--provided/--not-provided",
                                           help="whether the copy was provided onward (情報提供)")],
    note: Annotated[str, typer.Option(help="where it was looked up, e.g. 情報提供等記録 2026-07")] = "",
    user: UserOption = None,
) -> None:
    """Record, from the provision records (情報提供等記録), whether a case's copy was provided onward."""
    from linkguard.hq.exposure import record_onward

    engine = _engine()
    acting = _acting(engine, user)
    try:
        record_onward(engine, case, provided, acting.username, note)
    except ValueError as e:
        fail(str(e))
    console.print(f"case {case}: {'provided onward' if provided else 'not provided onward'}")


@hq_app.command("letters")
def letters_command(
    out: Annotated[Path, typer.Option(help="the HTML file to write (prints on A4, one letter a page)")],
    case: Annotated[Optional[list[int]], typer.Option("--case", help="a case number (repeat); default: all")] = None,
    system: Annotated[Optional[str], typer.Option(help="only cases of this process")] = None,
    recipient: Annotated[Optional[list[str]], typer.Option(
        help="number_holder and/or data_subject (repeat; default both)")] = None,
    registry: Annotated[Optional[Path], typer.Option(help="a registry extract for names and addresses")] = None,
    encoding: Annotated[Optional[str], typer.Option(help="the registry's encoding")] = None,
    user: UserOption = None,
) -> None:
    """Notice letters for a selected set of cases, generated as one audited batch."""
    from linkguard.hq.exposure import list_exposures
    from linkguard.hq.letters import RECIPIENTS, generate_batch

    engine = _engine()
    acting = _acting(engine, user)
    cases = list_exposures(engine, _catalogue(), system=system, case_ids=case,
                           registry=_registry(registry, encoding))
    if not cases:
        fail("no exposure cases selected")
    recipients = tuple(recipient or RECIPIENTS)
    try:
        batch, html, unaddressed = generate_batch(engine, cases, acting.username, recipients=recipients)
    except ValueError as e:
        fail(str(e))
    out.write_text(html, encoding="utf-8")
    console.print(escape(f"batch {batch}: {len(cases) * len(recipients) - len(unaddressed)} letters written to {out}"))
    for letter in unaddressed:
        console.print(f"[yellow]no name for the {letter.recipient} of case {letter.exposure.case_id}:[/] "
                      f"give --registry with the registry extract")
