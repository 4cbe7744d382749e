"""What every route shares: the services, the signed-in user, role checks, CSRF, rendering."""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.datastructures import FormData

from guards.exceptions import LinkguardError
from linkguard.catalogue import Catalogue
from linkguard.review.accounts import AccountStore, Role, User
from linkguard.review.credentials import FailedLogins, SessionStore
from linkguard.review.service import AuditLog, ReviewService
from linkguard.web.dashboard import Sampler
from linkguard.web.handles import HandleBox
from linkguard.web.throttle import LoginThrottle
from sinks.audit import CachedChainCheck
from linkguard.web.i18n import ROLE_KEYS, pick_language, translator
from linkguard.web.settings import WebSettings

__all__ = ["Services", "services", "LoginRequired", "RoleRequired", "CsrfFailed", "current_user", "require",
           "csrf_form", "render", "flash", "safe_next", "PERSONAL"]

#: roles that may open pages with personal data
PERSONAL = (Role.reviewer, Role.approver)


@dataclass
class Services:
    settings: WebSettings
    accounts: AccountStore
    sessions: SessionStore
    failed_logins: FailedLogins
    throttle: LoginThrottle
    audit_chain: CachedChainCheck
    hashing: asyncio.Semaphore
    review: ReviewService
    audit: AuditLog
    sampler: Sampler
    handles: HandleBox
    cursors: HandleBox
    catalogue: Catalogue
    templates: Environment
    zone: ZoneInfo

    def local(self, when: dt.datetime | None) -> str:
        """A timestamp as the office reads it: local zone, to the minute."""
        if when is None:
            return ""
        return when.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")


def services(request: Request) -> Services:
    return request.app.state.services


def template_environment() -> Environment:
    # autoescape everything: a name like <script> is shown as text (tested)
    env = Environment(loader=PackageLoader("linkguard.web", "templates"), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env


class LoginRequired(LinkguardError):
    """Not signed in: the handler redirects to the log-in page."""


class RoleRequired(LinkguardError):
    """Signed in without the role the page needs: 403."""


class CsrfFailed(LinkguardError):
    """A POST without the session's CSRF token: 403."""


def csrf_token(request: Request) -> str:
    """This session's CSRF token (made on first use)."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def current_user(request: Request) -> User | None:
    """The signed-in, still active user; re-read on every request so deactivation applies at once.

    The cookie only names a server-side session (:class:`SessionStore`): once its row is gone
    (log-out, deactivation, a role or password change) or has expired, a replayed cookie is nobody.
    """
    name = request.session.get("user")
    if not name:
        return None
    s = services(request)
    # the cookie is re-signed on every response, so its max_age only bounds idleness: bound the whole session too
    if time.time() - float(request.session.get("since", 0)) > s.settings.web_session_hours * 3600:
        s.sessions.end(request.session.get("sid"))
        request.session.clear()
        return None
    if s.sessions.username(request.session.get("sid")) != name:
        request.session.clear()
        return None
    user = s.accounts.get(name)
    if user is None or not user.active:
        request.session.clear()
        return None
    return user


def require(*roles: Role) -> Callable[[Request], User]:
    """A dependency: the signed-in user holding any of ``roles`` (none given: any signed-in user)."""

    def dependency(request: Request) -> User:
        user = current_user(request)
        if user is None:
            raise LoginRequired()
        if roles and not any(user.can(r) for r in roles):
            raise RoleRequired()
        request.state.user = user
        return user

    return dependency


async def csrf_form(request: Request) -> FormData:
    """The posted form, once its CSRF token matched the session's (constant-time)."""
    form = await request.form()
    sent = str(form.get("csrf_token") or request.headers.get("x-csrf-token") or "")
    expected = request.session.get("csrf") or ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfFailed()
    return form


def language(request: Request) -> str:
    """``?lang=`` switches and remembers the language for the session; Japanese by default."""
    asked = request.query_params.get("lang")
    if asked:
        request.session["lang"] = pick_language(asked)
    return pick_language(request.session.get("lang"))


def flash(request: Request, key: str, **fields: Any) -> None:
    """A message for the next page (a catalogue key, never personal data)."""
    request.session["flash"] = [key, {k: str(v) for k, v in fields.items()}]


def safe_next(value: str | None) -> str:
    """Only local paths after log-in (no open redirect).

    >>> safe_next('/records/abc'), safe_next('//evil.example/'), safe_next('https://x'), safe_next(None)
    ('/records/abc', '/', '/', '/')
    """
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def url_with(request: Request, **changes: Any) -> str:
    """The current URL's path with query parameters changed (None removes one)."""
    params = dict(request.query_params)
    for k, v in changes.items():
        if v is None:
            params.pop(k, None)
        else:
            params[k] = v
    return request.url.path + ("?" + urlencode(params) if params else "")


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    s = services(request)
    lang = language(request)
    t = translator(lang)
    user: User | None = getattr(request.state, "user", None) or current_user(request)
    message = request.session.pop("flash", None)
    other = "en" if lang == "ja" else "ja"

    def system_name(code: str) -> str:
        process = s.catalogue.get(code)
        return process.name if lang == "ja" and process.known else code

    html = s.templates.get_template(template).render(
        request=request, t=t, lang=lang, user=user, csrf=csrf_token(request),
        flash=t(message[0], **message[1]) if message else "",
        lang_url=url_with(request, lang=other), lang_other=other,
        role_label=lambda r: t(ROLE_KEYS[r.value if isinstance(r, Role) else r]),
        local=s.local, local_epoch=lambda e: s.local(dt.datetime.fromtimestamp(e, dt.timezone.utc)),
        system_name=system_name, Role=Role, url_with=lambda **kw: url_with(request, **kw),
        now=time.time(), **context)
    return HTMLResponse(html, status_code=status_code)
