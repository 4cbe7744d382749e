"""The web application: ``create_app()`` wires settings, services, middleware and routes.

``create_app()`` with no arguments reads everything from the environment
(``LINKGUARD_DATABASE_URL``, ``LINKGUARD_KAFKA_BOOTSTRAP``, ``LINKGUARD_WEB_*``),
which is what ``linkguard web`` serves; tests pass their own engine and
settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from importlib import resources
from typing import AsyncIterator, Callable
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware

from linkguard.catalogue import load_catalogue
from linkguard.review.accounts import AccountStore, Role, User
from linkguard.review.credentials import FailedLogins, SessionStore
from linkguard.review.service import AuditLog, DecisionPublisher, ReviewService
from linkguard.web import admin, hq, ops, views
from linkguard.web.core import (CsrfFailed, LoginRequired, RoleRequired, Services, csrf_form, current_user,
                                flash, render, require, safe_next, template_environment)
from linkguard.web.dashboard import Sampler
from linkguard.web.handles import HandleBox
from linkguard.web.throttle import LoginThrottle
from sinks.audit import CachedChainCheck
from linkguard.web.settings import WebSettings
from streams.settings import KafkaSettings

log = logging.getLogger(__name__)

__all__ = ["create_app", "home_for"]

# no inline script or style anywhere: a stored <script> could not run even if escaping failed
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


class LazyPublisher:
    """Connects to Kafka on the first decision, so the screen starts (and shows why) while Kafka is away."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.kafka = kafka
        self._publisher = None

    def _get(self):
        if self._publisher is None:
            from linkguard.review.service import KafkaDecisionPublisher

            self._publisher = KafkaDecisionPublisher(self.kafka)
        return self._publisher

    def publish_decision(self, decision: dict) -> None:
        self._get().publish_decision(decision)

    def publish_record(self, event: dict) -> None:
        self._get().publish_record(event)

    def close(self) -> None:
        if self._publisher is not None:
            self._publisher.close()


def home_for(user: User) -> str:
    """Where a user lands: their first screen by role."""
    if user.can(Role.reviewer) or user.can(Role.approver):
        return "/queue"
    if user.can(Role.operator):
        return "/dashboard"
    if user.can(Role.headquarters):
        return "/hq"
    if user.can(Role.admin):
        return "/admin/users"
    return "/login"


def create_app(*, engine: Engine | None = None, settings: WebSettings | None = None,
               kafka: KafkaSettings | None = None, publisher: DecisionPublisher | None = None,
               accounts: AccountStore | None = None, sample_in_background: bool = True,
               hq_publish: Callable[[dict], None] | None = None) -> FastAPI:
    settings = settings or WebSettings()
    secret = settings.secret()
    if engine is None:
        from sinks import SinkWriter, make_engine
        from sinks.settings import DatabaseSettings

        database = DatabaseSettings()
        engine = make_engine(database.database_url, pool_size=database.database_pool_size)
        SinkWriter(engine).create_schema()
    if kafka is None:
        kafka = KafkaSettings()
    if publisher is None and kafka.kafka_bootstrap:
        publisher = LazyPublisher(kafka)
    accounts = accounts or AccountStore(engine)
    audit = AuditLog(engine)
    sampler = Sampler(engine, kafka if kafka.kafka_bootstrap else None, keep=settings.web_sample_keep)
    state = Services(settings=settings, accounts=accounts, sessions=SessionStore(engine),
                     failed_logins=FailedLogins(engine), audit_chain=CachedChainCheck(engine),
                     throttle=LoginThrottle(per_client=settings.web_login_per_client, total=settings.web_login_total),
                     hashing=asyncio.Semaphore(settings.web_login_hashing), audit=audit,
                     review=ReviewService(engine, publisher, audit=audit, accounts=accounts), sampler=sampler,
                     handles=HandleBox(secret, b"record-handle"), cursors=HandleBox(secret, b"queue-cursor"),
                     catalogue=load_catalogue(), templates=template_environment(),
                     zone=ZoneInfo(settings.web_timezone))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_sample_forever(sampler, settings.web_sample_seconds)) \
            if sample_in_background else None
        try:
            yield
        finally:
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            sampler.close()
            if publisher is not None and hasattr(publisher, "close"):
                publisher.close()

    app = FastAPI(title="linkage guard", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.services = state
    app.add_middleware(SessionMiddleware, secret_key=secret.decode(), session_cookie="linkguard_session",
                       max_age=int(settings.web_session_hours * 3600), same_site=settings.web_same_site,
                       https_only=settings.web_https_only)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response: Response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        if settings.web_https_only:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"  # personal data must not stay in caches
        return response

    static = resources.files("linkguard.web") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    _error_handlers(app)
    _auth_routes(app)
    app.include_router(views.router)
    app.include_router(ops.router)
    app.include_router(admin.router)
    hq.install(app, engine, kafka, hq_publish)  # the headquarters' pages (総点検本部)
    return app


async def _sample_forever(sampler: Sampler, seconds: float) -> None:
    while True:
        try:
            await asyncio.to_thread(sampler.sample)
        except Exception as e:  # the database may be away for a while: keep sampling
            log.warning("dashboard sample failed: %s", e)
        await asyncio.sleep(seconds)


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/"
        return RedirectResponse("/login?" + _q(next=target), status_code=303)

    @app.exception_handler(RoleRequired)
    async def role_required(request: Request, exc: RoleRequired) -> Response:
        return render(request, "error.html", status_code=403, message_key="error.403")

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, exc: CsrfFailed) -> Response:
        return render(request, "error.html", status_code=403, message_key="error.csrf")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return render(request, "error.html", status_code=404, message_key="error.404")
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)


def _q(**params: str) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


def _auth_routes(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def home(request: Request) -> Response:
        user = current_user(request)
        return RedirectResponse(home_for(user) if user else "/login", status_code=303)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str = "/") -> Response:
        user = current_user(request)
        if user:
            return RedirectResponse(home_for(user), status_code=303)
        return render(request, "login.html", next=safe_next(next), failed=False, locked=False, throttled=False,
                      username="")

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        form = await csrf_form(request)
        s = request.app.state.services
        username = str(form.get("username") or "").strip()
        next_page = safe_next(str(form.get("next") or "/"))
        # over the limits: refused before any hashing (each hash costs ~0.2 s of a core and 64 MiB)
        if not s.throttle.allow(request.client.host if request.client else "-"):
            return render(request, "login.html", status_code=429, next=next_page, failed=True, locked=False,
                          throttled=True, username=username)
        if await run_in_threadpool(s.failed_logins.locked, username):
            await run_in_threadpool(s.failed_logins.record, username, "login-locked")
            return render(request, "login.html", status_code=429, next=next_page, failed=True, locked=True,
                          throttled=False, username=username)
        async with s.hashing:  # argon2 off the event loop, and only so many at once
            user = await run_in_threadpool(s.accounts.authenticate, username, str(form.get("password") or ""))
        if user is None:
            await run_in_threadpool(s.failed_logins.record, username)
            return render(request, "login.html", status_code=401, next=next_page, failed=True, locked=False,
                          throttled=False, username=username)
        lang = request.session.get("lang")
        request.session.clear()  # a new session on log-in: no fixation
        session_id = s.sessions.start(user.username, dt.timedelta(hours=s.settings.web_session_hours))
        request.session.update(user=user.username, sid=session_id, lang=lang or "ja", since=time.time())
        s.audit.record(user.username, "login")
        target = safe_next(str(form.get("next") or "/"))
        return RedirectResponse(home_for(user) if target == "/" else target, status_code=303)

    @app.post("/logout")
    async def logout(request: Request, user: User = Depends(require())) -> Response:
        await csrf_form(request)
        s = request.app.state.services
        s.sessions.end(request.session.get("sid"))  # a replayed cookie is nobody from now on
        s.audit.record(user.username, "logout")
        lang = request.session.get("lang")
        request.session.clear()
        request.session["lang"] = lang or "ja"
        flash(request, "login.logged_out")
        return RedirectResponse("/login", status_code=303)
