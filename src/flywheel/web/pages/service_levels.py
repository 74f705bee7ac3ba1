"""Service-level pages: SLO attainment and error-budget burn-down per service, tenant reports."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query, Request
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from flywheel.auth.roles import Permission
from flywheel.cmdb import service as cmdb_service
from flywheel.config import Settings, get_settings
from flywheel.db import utcnow
from flywheel.errors import InvalidInput, NotFound
from flywheel.http.deps import DbSession
from flywheel.slo import service as slo_service
from flywheel.slo import tenant_report, tenants
from flywheel.slo.models import ServiceLevelObjective
from flywheel.slo.schemas import TenantAvailabilityOut
from flywheel.web import charts, delivery_charts, delivery_view, recent
from flywheel.web.rendering import render, secured
from flywheel.web.sections import SETTINGS_KEY, Panel, Section, Tile, console_router
from flywheel.web.security import Viewer, require_page

router = console_router()
Reader = Annotated[Viewer, require_page(Permission.SLO_READ)]
BURN_DOWN_POINTS = 12
MAX_SLOS = 500
OVERVIEW_KEPT_S = 30.0


@dataclass(frozen=True)
class SloRow:
    """An SLO and where it stands now."""

    slo_id: int
    service: str
    name: str
    objective: float
    window: str
    health: str
    attainment: float | None  # measured availability in percent
    remaining: float | None  # share of the error budget left
    period_start: datetime


def settings_of(session: Session) -> Settings:
    """The app's settings (the process's own when the session was not given them)."""
    found = session.info.get(SETTINGS_KEY)
    return found if isinstance(found, Settings) else get_settings()


def _window(slo: ServiceLevelObjective) -> str:
    return f"{slo.window_days} days" if slo.window_kind == "rolling" else "calendar month"


def _row(session: Session, slo: ServiceLevelObjective, settings: Settings, now: datetime) -> SloRow:
    state = slo_service.evaluate(session, slo=slo, settings=settings, now=now)
    budget = state.objectives[0].budget
    return SloRow(
        slo.id,
        slo.service,
        slo.name,
        slo.objective,
        _window(slo),
        str(state.health),
        None if budget is None else budget.sli,
        None if budget is None else budget.remaining,
        state.period.whole.start,
    )


def _evaluate_all(session: Session) -> list[SloRow]:
    settings, now = settings_of(session), utcnow()
    slos = slo_service.list_slos(session, limit=MAX_SLOS)
    return [_row(session, slo, settings, now) for slo in slos]


def slo_rows(session: Session) -> list[SloRow]:
    """Every SLO evaluated now."""
    return _evaluate_all(session)


def overview_rows(session: Session) -> list[SloRow]:
    """Every SLO as evaluated at most OVERVIEW_KEPT_S ago (the overview's tiles and panel)."""
    found: list[SloRow] = recent.remembered(
        session, "slo.rows", OVERVIEW_KEPT_S, lambda: _evaluate_all(session)
    )
    return found


def _burn_down(session: Session, rows: list[SloRow]) -> dict[str, Any]:
    settings, now = settings_of(session), utcnow()
    series: dict[str, list[tuple[datetime, float | None]]] = {}
    for row in rows:
        slo = slo_service.get_slo(session, slo_id=row.slo_id)
        moments = delivery_view.samples(row.period_start, now, BURN_DOWN_POINTS)
        left = slo_service.budget_history(session, slo=slo, settings=settings, moments=moments)
        series[row.name] = list(zip(moments, left, strict=True))
    return delivery_charts.budget_burn_down(series)


def _by_service(rows: list[SloRow]) -> dict[str, list[SloRow]]:
    found: dict[str, list[SloRow]] = defaultdict(list)
    for row in rows:
        found[row.service].append(row)
    return dict(found)


@router.get("/service-levels")
def service_levels(
    request: Request,
    session: DbSession,
    viewer: Reader,
    service: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """SLO attainment and error budget per service, with the budget's burn-down."""
    session.info[SETTINGS_KEY] = request.app.state.settings
    chosen = service.strip()
    grouped = _by_service(slo_rows(session))
    error = ""
    if chosen and chosen not in grouped:
        error = f"no SLO is defined for '{chosen}'"
    shown = {k: v for k, v in sorted(grouped.items()) if not chosen or k == chosen}
    burn_downs = {k: charts.as_json(_burn_down(session, v)) for k, v in shown.items()}
    return render(
        request,
        "service_levels/page.html",
        status=404 if error else 200,
        error=error,
        title="Service levels",
        services=shown,
        burn_downs=burn_downs,
        chosen=chosen,
        budget_left=delivery_view.budget_left,
    )


def _report(session: Session, tenant: str, months: int) -> TenantAvailabilityOut:
    return tenant_report.report_out(
        tenants.tenant_availability(session, tenant=tenant, months=months)
    )


@router.get("/service-levels/tenants")
def tenant_page(
    request: Request,
    session: DbSession,
    viewer: Reader,
    tenant: Annotated[str, Query(max_length=200)] = "",
    months: Annotated[int, Query(ge=1, le=24)] = 6,
) -> Response:
    """A tenant's availability per month, with the incidents that cost it, and its exports."""
    key, report, error, status = tenant.strip(), None, "", 200
    if key:
        try:
            report = _report(session, key, months)
        except (NotFound, InvalidInput) as exc:
            error, status = exc.message, exc.status_code
    return render(
        request,
        "service_levels/tenant.html",
        status=status,
        error=error,
        title=f"Availability of {key}" if report else "Tenant availability",
        tenant=key,
        months=months,
        report=report,
    )


@router.get("/service-levels/tenants/{key}/availability.csv")
def tenant_csv(
    request: Request,
    key: str,
    session: DbSession,
    viewer: Reader,
    months: Annotated[int, Query(ge=1, le=24)] = 6,
) -> Response:
    """The tenant report as CSV (a download)."""
    text = tenant_report.as_csv(_report(session, key, months))
    disposition = f'attachment; filename="{key}-availability.csv"'
    answer = PlainTextResponse(
        text, media_type="text/csv", headers={"Content-Disposition": disposition}
    )
    return secured(request, answer)


@router.get("/service-levels/tenants/{key}/availability.html")
def tenant_printable(
    request: Request,
    key: str,
    session: DbSession,
    viewer: Reader,
    months: Annotated[int, Query(ge=1, le=24)] = 6,
) -> Response:
    """The tenant report as a page to print or save as PDF."""
    return secured(request, HTMLResponse(tenant_report.as_html(_report(session, key, months))))


def _business_services(session: Session) -> list[str]:
    found = cmdb_service.list_cis(session, ci_type="business_service", limit=200)
    return [c.key for c in sorted(found, key=lambda c: (c.criticality, c.key))]


def _worst(rows: list[SloRow]) -> SloRow:
    return min(rows, key=lambda r: 2.0 if r.remaining is None else r.remaining)


def _tiles(session: Session, viewer: Viewer) -> list[Tile]:
    grouped = _by_service(overview_rows(session))
    found = []
    for key in _business_services(session):
        if key in grouped:
            worst = _worst(grouped[key])
            left = delivery_view.budget_left(worst.remaining)
            tone = delivery_view.tone(worst.remaining)
            found.append(
                Tile(f"{key}: error budget left", left, f"/service-levels?service={key}", tone)
            )
    return found


def _panel(session: Session, viewer: Viewer) -> Mapping[str, Any]:
    grouped = _by_service(overview_rows(session))
    services = [(k, grouped[k]) for k in _business_services(session) if k in grouped]
    return {"services": services, "budget_left": delivery_view.budget_left}


SECTION = Section(
    label="Service levels",
    path="/service-levels",
    router=router,
    permission=Permission.SLO_READ,
    tiles=_tiles,
    panels=(
        Panel(
            "Service levels of the business services",
            "service_levels/_panel.html",
            _panel,
            permission=Permission.SLO_READ,
            order=12,
        ),
    ),
)
