"""The reviewers' screens: the queue, one record, reveal, and the decision forms."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from linkguard.review.accounts import Role, User
from linkguard.review.service import (BadNumber, CommentRequired, Forbidden, FourEyesViolation, NotFound, NotOpen,
                                      ReviewCase, ReviewError)
from linkguard.web.core import PERSONAL, Services, csrf_form, flash, render, require, services
from linkguard.web.handles import BadHandle

router = APIRouter()

#: the queue's age filter: query value → minimum age
AGES = {"1h": dt.timedelta(hours=1), "1d": dt.timedelta(days=1), "3d": dt.timedelta(days=3),
        "7d": dt.timedelta(days=7)}

#: review errors → (status code, message key)
ERRORS: list[tuple[type[ReviewError], int, str]] = [
    (CommentRequired, 400, "error.comment_required"),
    (BadNumber, 400, "error.bad_number"),
    (FourEyesViolation, 409, "error.four_eyes"),
    (NotOpen, 409, "error.not_open"),
    (Forbidden, 403, "error.forbidden"),
    (NotFound, 404, "error.404"),
]


def age_label(t, held_at: dt.datetime, now: float) -> str:
    """How long a record has waited, in the largest whole unit."""
    seconds = max(0, now - held_at.timestamp())
    if seconds >= 86400:
        return t("queue.age_days", n=int(seconds // 86400))
    if seconds >= 3600:
        return t("queue.age_hours", n=int(seconds // 3600))
    return t("queue.age_minutes", n=int(seconds // 60))


def _open_handle(s: Services, handle: str) -> tuple[str, str]:
    try:
        system, record_id = s.handles.open(handle)
    except (BadHandle, ValueError):
        raise HTTPException(404) from None
    return system, record_id


@router.get("/queue")
def queue(request: Request, user: User = Depends(require(*PERSONAL)), system: str = "", reason: str = "",
                age: str = "", assignee: str = "", order: str = "oldest", cursor: str = "") -> Response:
    s = services(request)
    order = order if order in ("oldest", "newest") else "oldest"
    after = None
    if cursor:
        try:
            (after,) = s.cursors.open(cursor)
        except (BadHandle, ValueError):
            after = None  # an old or altered cursor: start again at the first page
    page = s.review.queue(system=system or None, reason=reason or None, older_than=AGES.get(age),
                          assignee=assignee or None, order=order, after=after, limit=s.settings.web_page_size)
    counts = s.review.reason_counts(system=system or None)
    reviewers = [u for u in s.accounts.list_users() if u.sees_personal_data]
    from guards import Reason

    def reason_label(code: str) -> tuple[str, str]:
        try:
            r = Reason(code)
            return r.label_ja, r.label_en
        except ValueError:
            return code, code

    rows = [{"item": item, "handle": s.handles.seal(item.system, item.record_id)} for item in page.items]
    return render(request, "queue.html", page=page, rows=rows, counts=counts, systems=s.review.systems(),
                  filters={"system": system, "reason": reason, "age": age, "assignee": assignee, "order": order},
                  ages=list(AGES), reviewers=reviewers, reason_label=reason_label,
                  next_cursor=s.cursors.seal(page.next_cursor) if page.next_cursor else "",
                  first_page=bool(cursor), age_label=age_label, all_reasons=[r.value for r in Reason])


def _record_page(request: Request, user: User, handle: str, *, status_code: int = 200, error: str = "",
                 error_detail: str = "", form: dict[str, Any] | None = None,
                 revealed: dict[str, str] | None = None) -> Response:
    s = services(request)
    system, record_id = _open_handle(s, handle)
    try:
        case = s.review.case(system, record_id, viewer=user)
    except NotFound:
        raise HTTPException(404) from None
    peers = [{"peer": p, "handle": s.handles.seal(p.system, p.record_id)} for p in case.batch_peers]
    reviewers = [u for u in s.accounts.list_users() if u.sees_personal_data]
    return render(request, "record.html", status_code=status_code, case=case, handle=handle, peers=peers,
                  error=error, error_detail=error_detail, form=form or {}, revealed=revealed or {},
                  approve_block=_approve_block(case, user), reviewers=reviewers)


def _approve_block(case: ReviewCase, user: User) -> str:
    """Why this user cannot approve now (a message key), or '' when they can."""
    if case.pending_release is not None and case.pending_release.requested_by == user.username:
        return "record.approve_own"
    if not user.can(Role.approver):
        return "record.approve_role"
    if case.pending_release is None:
        return "record.approve_none"
    return ""


@router.get("/records/{handle}")
def record(request: Request, handle: str, user: User = Depends(require(*PERSONAL))) -> Response:
    return _record_page(request, user, handle)


@router.post("/records/{handle}/reveal")
async def reveal(request: Request, handle: str, user: User = Depends(require(*PERSONAL))) -> Response:
    form = await csrf_form(request)
    return await run_in_threadpool(_reveal, request, user, handle, form.get("which"))


def _reveal(request: Request, user: User, handle: str, which_field: Any) -> Response:
    s = services(request)
    system, record_id = _open_handle(s, handle)
    which = "suggested" if which_field == "suggested" else "record"
    try:
        number = s.review.reveal(system, record_id, which, viewer=user)
    except ReviewError as e:
        return _failed(request, user, handle, e, {})
    shown = " ".join((number[:4], number[4:8], number[8:])) if len(number) == 12 else number
    if request.headers.get("x-requested-with") == "fetch":
        return JSONResponse({"which": which, "number": shown})
    return _record_page(request, user, handle, revealed={which: shown})


def _failed(request: Request, user: User, handle: str, error: ReviewError, form: dict[str, Any]) -> Response:
    for kind, status, key in ERRORS:
        if isinstance(error, kind):
            if kind is NotFound:
                raise HTTPException(404)
            return _record_page(request, user, handle, status_code=status, error=key, form=form)
    # other refusals (e.g. assigning to someone who is not a reviewer): the service's message, never a number
    return _record_page(request, user, handle, status_code=400, error="error.review", error_detail=str(error),
                        form=form)


def _decide(action: str, roles: tuple[Role, ...], done: str):
    async def endpoint(request: Request, handle: str, user: User = Depends(require(*roles))) -> Response:
        form = await csrf_form(request)  # first, before anything is read or decided
        # the service and the database are blocking: off the event loop
        return await run_in_threadpool(_apply, request, user, handle, action, dict(form), done)

    endpoint.__name__ = f"decide_{action}"
    return endpoint


def _apply(request: Request, user: User, handle: str, action: str, form: dict[str, Any], done: str) -> Response:
    s = services(request)
    system, record_id = _open_handle(s, handle)
    comment = str(form.get("comment") or "")
    values: dict[str, Any] = {"action": action, "comment": comment}
    try:
        if action == "release":
            s.review.request_release(system, record_id, user=user, comment=comment)
        elif action == "approve":
            s.review.approve_release(system, record_id, user=user, comment=comment)
        elif action == "correct":
            values["use_suggestion"] = bool(form.get("use_suggestion"))
            if form.get("use_suggestion"):  # the service reads the suggestion: nobody has to see it
                s.review.accept_suggestion(system, record_id, user=user, comment=comment)
            else:
                s.review.correct(system, record_id, user=user, comment=comment,
                                 my_number=str(form.get("my_number") or ""))
        elif action == "return":
            s.review.return_to_system(system, record_id, user=user, comment=comment)
        elif action == "assign":
            s.review.assign(system, record_id, user=user, assignee=str(form.get("assignee") or ""))
    except ReviewError as e:
        return _failed(request, user, handle, e, values)
    flash(request, done)
    return RedirectResponse(f"/records/{handle}", status_code=303)


router.post("/records/{handle}/release")(_decide("release", (Role.reviewer,), "flash.requested"))
router.post("/records/{handle}/approve")(_decide("approve", (Role.approver,), "flash.approved"))
router.post("/records/{handle}/correct")(_decide("correct", (Role.reviewer,), "flash.corrected"))
router.post("/records/{handle}/return")(_decide("return", (Role.reviewer,), "flash.returned"))
router.post("/records/{handle}/assign")(_decide("assign", PERSONAL, "flash.assigned"))
