"""The headquarters' pages (総点検本部): board, exports, uploads, rounds, stops, exposure and letters.

Only the ``headquarters`` role reaches them (stops: also ``admin``); a reviewer
or operator gets 403. Nothing here shows or reveals a full My Number: the
exposure list and the letters show the last four digits only, and no route
of this module can unmask one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from importlib import resources
from typing import Callable

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine

from linkguard.hq.board import build_board, create_round, latest_round, rounds
from linkguard.hq.exports import cause_table, process_table, render_export, to_csv
from linkguard.hq.exposure import list_exposures
from linkguard.hq.letters import RECIPIENTS, generate_batch
from linkguard.hq.stops import StopError, StopService, kafka_publisher
from linkguard.hq.uploads import UploadError, parse_report, register_report
from linkguard.review.accounts import Role, User
from linkguard.web.core import csrf_form, flash, language, render, require, services
from linkguard.web.i18n import translator
from sinks.audit import append_entry
from streams.settings import KafkaSettings

__all__ = ["router", "install", "HQ", "STOPPERS"]

router = APIRouter()

HQ = (Role.headquarters,)
STOPPERS = (Role.headquarters, Role.admin)
_PRINT_CSS = ("letters", "export")


class _HqState:
    def __init__(self, engine: Engine, publish: Callable[[dict], None]) -> None:
        self.engine = engine
        self.publish = publish


def install(app: FastAPI, engine: Engine, kafka: KafkaSettings, publish: Callable[[dict], None] | None) -> None:
    """Mount the pages; stops are published to ``linkage.control`` unless ``publish`` is given (tests)."""
    if publish is None:
        def publish(message: dict) -> None:
            if not kafka.kafka_bootstrap:
                raise StopError("no Kafka cluster is configured (LINKGUARD_KAFKA_BOOTSTRAP): "
                                "the guard cannot be told of the stop")
            kafka_publisher(kafka)(message)
    app.state.hq = _HqState(engine, publish)
    app.include_router(router)


def _state(request: Request) -> _HqState:
    return request.app.state.hq


def _stops(request: Request) -> StopService:
    return StopService(_state(request).engine, _state(request).publish, services(request).catalogue)


def _round_id(request: Request) -> int | None:
    value = request.query_params.get("round", "")
    return int(value) if value.isdigit() else None


@router.get("/hq")
async def board(request: Request, user: User = Depends(require(*HQ))) -> Response:
    s = services(request)
    engine = _state(request).engine
    board_ = await asyncio.to_thread(build_board, engine, s.catalogue, round_id=_round_id(request))
    return render(request, "hq_board.html", board=board_, rounds=await asyncio.to_thread(rounds, engine),
                  error=request.query_params.get("error", ""))


@router.post("/hq/rounds")
async def add_round(request: Request, user: User = Depends(require(*HQ))) -> Response:
    form = await csrf_form(request)
    try:
        rnd = create_round(_state(request).engine, str(form.get("name") or ""),
                           dt.date.fromisoformat(str(form.get("starts_on") or "")),
                           dt.date.fromisoformat(str(form.get("due_on") or "")), user.username)
    except ValueError as e:
        return render(request, "hq_message.html", status_code=400, title="hq.round_error", message=str(e))
    return RedirectResponse(f"/hq?round={rnd.id}", status_code=303)


@router.get("/hq/upload")
async def upload_form(request: Request, user: User = Depends(require(*HQ))) -> Response:
    return render(request, "hq_upload.html", rounds=rounds(_state(request).engine), error="", done="")


@router.post("/hq/upload")
async def upload(request: Request, user: User = Depends(require(*HQ))) -> Response:
    form = await csrf_form(request)
    engine = _state(request).engine
    upload_file = form.get("report")
    body = str(form.get("body") or "").strip()
    name = getattr(upload_file, "filename", "") or "report.csv"
    all_rounds = rounds(engine)
    round_value = str(form.get("round") or "")
    round_id = int(round_value) if round_value.isdigit() else (all_rounds[0].id if all_rounds else None)
    if upload_file is None or not hasattr(upload_file, "read"):
        return render(request, "hq_upload.html", status_code=400, rounds=all_rounds, done="",
                      error=translator(language(request))("hq.pick_file"))
    if round_id is None or not body:
        return render(request, "hq_upload.html", status_code=400, rounds=all_rounds, done="",
                      error=translator(language(request))("hq.pick_round_body"))
    data = await upload_file.read()
    try:
        parsed = parse_report(data, name, services(request).catalogue)
        n = register_report(engine, round_id, body, parsed, file=name, user=user.username)
    except (UploadError, ValueError) as e:
        return render(request, "hq_upload.html", status_code=400, rounds=all_rounds, done="", error=str(e))
    return render(request, "hq_upload.html", rounds=all_rounds, error="",
                  done=translator(language(request))("hq.registered", body=body, n=n))


@router.get("/hq/export.csv")
async def export_csv(request: Request, user: User = Depends(require(*HQ))) -> Response:
    engine = _state(request).engine
    board_ = build_board(engine, services(request).catalogue, round_id=_round_id(request))
    table = request.query_params.get("table", "process")
    data = to_csv(cause_table(engine)) if table == "cause" else to_csv(process_table(board_))
    append_entry(engine, user.username, "hq_export", "", "", f"{table} table (CSV)")
    name = "hq-causes.csv" if table == "cause" else "hq-processes.csv"
    return Response(data, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/hq/export")
async def export_page(request: Request, user: User = Depends(require(*HQ))) -> Response:
    engine = _state(request).engine
    board_ = build_board(engine, services(request).catalogue, round_id=_round_id(request))
    title = f"個人番号の紐付けに関する点検結果{'（' + board_.round.name + '）' if board_.round else ''}"
    append_entry(engine, user.username, "hq_export", "", "", "printable page")
    return HTMLResponse(render_export(board_, process_table(board_), cause_table(engine), title=title,
                                      css_href="/hq/print/export.css"))


@router.get("/hq/print/{name}.css")
async def print_css(name: str, user: User = Depends(require(*HQ))) -> Response:
    if name not in _PRINT_CSS:
        return Response(status_code=404)
    css = resources.files("linkguard.hq").joinpath(f"templates/{name}.css").read_text("utf-8")
    return Response(css, media_type="text/css; charset=utf-8")


@router.get("/hq/stops")
async def stops_page(request: Request, user: User = Depends(require(*STOPPERS))) -> Response:
    return render(request, "hq_stops.html", stops=_stops(request).list(), processes=list(services(request).catalogue),
                  error="")


@router.post("/hq/stops")
async def stop_action(request: Request, user: User = Depends(require(*STOPPERS))) -> Response:
    form = await csrf_form(request)
    service = _stops(request)
    action = str(form.get("action") or "")
    stop_id = str(form.get("stop_id") or "")
    reason = str(form.get("reason") or "")
    try:
        if action == "request":
            service.request_stop(str(form.get("system") or ""), user, reason)
        elif action == "approve":
            service.approve_stop(stop_id, user)
        elif action == "resume":
            service.request_resume(stop_id, user, reason)
        elif action == "approve_resume":
            service.approve_resume(stop_id, user)
        elif action == "refuse":
            service.refuse(stop_id, user)
        else:
            raise StopError(f"unknown action {action!r}")
    except StopError as e:
        return render(request, "hq_stops.html", status_code=400, stops=service.list(),
                      processes=list(services(request).catalogue), error=str(e))
    flash(request, "hq.stop_done")
    return RedirectResponse("/hq/stops", status_code=303)


@router.get("/hq/exposure")
async def exposure_page(request: Request, user: User = Depends(require(*HQ))) -> Response:
    system = request.query_params.get("system") or None
    cases = await asyncio.to_thread(list_exposures, _state(request).engine, services(request).catalogue,
                                    system=system)
    return render(request, "hq_exposure.html", cases=cases, system=system or "",
                  processes=list(services(request).catalogue))


@router.post("/hq/letters")
async def letters(request: Request, user: User = Depends(require(*HQ))) -> Response:
    form = await csrf_form(request)
    ids = [int(v) for v in form.getlist("case") if str(v).isdigit()]
    recipients = [str(r) for r in form.getlist("recipient") if str(r) in RECIPIENTS] or list(RECIPIENTS)
    if not ids:
        return render(request, "hq_message.html", status_code=400, title="hq.letters_error",
                      message=translator(language(request))("hq.pick_cases"))
    engine = _state(request).engine
    cases = list_exposures(engine, services(request).catalogue, case_ids=ids)
    _batch, html, _unaddressed = generate_batch(engine, cases, user.username, recipients=recipients,
                                                css_href="/hq/print/letters.css")
    return HTMLResponse(html)


