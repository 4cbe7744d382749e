"""Administration: users and roles, the audit log and its CSV export."""

from __future__ import annotations

import io
import re

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from linkguard.review.accounts import AccountError, Role, User, parse_roles
from linkguard.web.core import csrf_form, flash, render, require, services

router = APIRouter(prefix="/admin")

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,31}$")
MIN_PASSWORD = 12


def _users_page(request: Request, *, status_code: int = 200, error: str = "", error_detail: str = "",
                form: dict | None = None) -> Response:
    s = services(request)
    return render(request, "users.html", status_code=status_code, users=s.accounts.list_users(),
                  roles=list(Role), error=error, error_detail=error_detail, form=form or {})


@router.get("/users")
def users(request: Request, user: User = Depends(require(Role.admin))) -> Response:
    return _users_page(request)


@router.post("/users")
async def create_user(request: Request, user: User = Depends(require(Role.admin))) -> Response:
    form = await csrf_form(request)
    s = services(request)
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    roles = [str(r) for r in form.getlist("roles")]
    values = {"username": username, "display_name": str(form.get("display_name") or ""), "roles": roles}
    if not USERNAME.match(username):
        return _users_page(request, status_code=400, error="users.bad_username", form=values)
    if len(password) < MIN_PASSWORD:
        return _users_page(request, status_code=400, error="users.short_password", form=values)
    try:
        s.accounts.create_user(username, password, parse_roles(roles), values["display_name"].strip())
    except AccountError as e:
        return _users_page(request, status_code=400, error="users.error", error_detail=str(e), form=values)
    s.audit.record(user.username, "user-create", detail=f"{username}: {','.join(sorted(roles))}")
    flash(request, "users.created", user=username)
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{username}/roles")
async def set_roles(request: Request, username: str, user: User = Depends(require(Role.admin))) -> Response:
    form = await csrf_form(request)
    s = services(request)
    roles = [str(r) for r in form.getlist("roles")]
    try:
        s.accounts.set_roles(username, parse_roles(roles))
    except AccountError as e:
        return _users_page(request, status_code=400, error="users.error", error_detail=str(e))
    s.audit.record(user.username, "user-roles", detail=f"{username}: {','.join(sorted(roles)) or 'none'}")
    flash(request, "users.updated", user=username)
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{username}/active")
async def set_active(request: Request, username: str, user: User = Depends(require(Role.admin))) -> Response:
    form = await csrf_form(request)
    s = services(request)
    active = form.get("active") == "1"
    if username == user.username and not active:
        return _users_page(request, status_code=400, error="users.self")
    try:
        s.accounts.set_active(username, active)
    except AccountError as e:
        return _users_page(request, status_code=400, error="users.error", error_detail=str(e))
    s.audit.record(user.username, "user-activate" if active else "user-deactivate", detail=username)
    flash(request, "users.updated", user=username)
    return RedirectResponse("/admin/users", status_code=303)


def audit_cursor(before: str) -> int | None:
    """The ``before`` id of an audit page, or None (the newest page) for anything that is not one.

    >>> audit_cursor('120'), audit_cursor(''), audit_cursor('1' + '0' * 26), audit_cursor('-5'), audit_cursor('x')
    (120, None, None, None, None)
    """
    if not before.isascii() or not before.isdigit() or len(before) > 19:
        return None
    value = int(before)
    return value if 0 < value < 2 ** 63 else None


@router.get("/audit")
def audit(request: Request, user: User = Depends(require(Role.admin)), actor: str = "",
          before: str = "") -> Response:
    s = services(request)
    entries = s.audit.entries(100, audit_cursor(before), actor or None)
    older = entries[-1].id if len(entries) == 100 else None
    return render(request, "audit.html", entries=entries, actor=actor, older=older, chain=s.audit_chain.report())


@router.get("/audit.csv")
def audit_csv(request: Request, user: User = Depends(require(Role.admin)), actor: str = "") -> Response:
    s = services(request)
    buffer = io.StringIO()
    s.audit.export_csv(buffer, actor=actor or None)
    s.audit.record(user.username, "audit-export", detail=f"actor={actor or '*'}")
    data = "\ufeff" + buffer.getvalue()  # BOM: Excel opens UTF-8 CSV correctly
    return StreamingResponse(iter([data.encode()]), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="linkguard-audit.csv"'})
