"""The operator dashboard: lag, throughput, queue depth and dead letters over time; no personal data."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from linkguard.review.accounts import Role, User
from linkguard.web.charts import Series, line_chart
from linkguard.web.core import csrf_form, language, render, require, services
from linkguard.web.dashboard import rates
from linkguard.web.i18n import translator

router = APIRouter()

OPERATORS = (Role.operator, Role.admin)


@router.get("/dashboard")
async def dashboard(request: Request, user: User = Depends(require(*OPERATORS))) -> Response:
    s = services(request)
    points = s.sampler.snapshot()
    if not points:  # first visit after a start: sample on demand rather than show empty charts
        await asyncio.to_thread(s.sampler.sample)
        points = s.sampler.snapshot()
    t = translator(language(request))
    last = points[-1]
    now = last.time
    groups = sorted({g for p in points if p.lag for g in p.lag})
    charts = {
        "lag": line_chart([Series(g, [(p.time, p.lag[g]) for p in points if p.lag and g in p.lag]) for g in groups],
                          title=t("dash.lag"), now=now, zone=s.zone),
        "throughput": line_chart([Series(g, rates(points, g)) for g in groups], title=t("dash.throughput"), now=now,
                                 zone=s.zone),
        "queue": line_chart([Series(t("dash.queue"), [(p.time, p.queue_depth) for p in points])],
                            title=t("dash.queue"), now=now, zone=s.zone),
        "dead": line_chart([Series(t("dash.dead"), [(p.time, p.dead_letters) for p in points])],
                           title=t("dash.dead"), now=now, zone=s.zone),
    }
    throughput = {g: r[-1][1] for g in groups if (r := rates(points, g))}
    span_minutes = max(0, round((points[-1].time - points[0].time) / 60))
    return render(request, "dashboard.html", charts=charts, last=last, groups=groups, points=points,
                  throughput=throughput, span_minutes=span_minutes,
                  interval=int(s.settings.web_sample_seconds))


@router.post("/dashboard/sample")
async def sample_now(request: Request, user: User = Depends(require(*OPERATORS))) -> Response:
    await csrf_form(request)
    await asyncio.to_thread(services(request).sampler.sample)
    return RedirectResponse("/dashboard", status_code=303)
