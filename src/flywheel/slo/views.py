"""API routes of the SLO domain."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.config import Settings
from flywheel.db import utcnow
from flywheel.http.deps import DbSession, cursor_to_id, require
from flywheel.schemas import Page
from flywheel.slo import service, tenant_report, tenants
from flywheel.slo.schemas import (
    AlertOut,
    AlertRun,
    AlertRunOut,
    BudgetOut,
    BurnAlertOut,
    BurnOut,
    ObjectiveStatusOut,
    PeriodOut,
    ServiceSloStatusOut,
    SloCreate,
    SloOut,
    SloStatusOut,
    TenantAvailabilityOut,
)
from flywheel.slo.service import SloState
from flywheel.slo.sources import REGISTRY
from flywheel.slo.status import Health, ObjectiveState, worst
from flywheel.slo.windows import format_window

router = APIRouter(tags=["service levels"])

Reader = Annotated[Actor, Depends(require(Permission.SLO_READ))]
Manager = Annotated[Actor, Depends(require(Permission.SLO_MANAGE))]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _budget_out(state: ObjectiveState) -> BudgetOut | None:
    budget = state.budget
    if budget is None:
        return None
    return BudgetOut(
        allowed=budget.allowed_bad,
        consumed=budget.counts.bad,
        consumed_fraction=budget.consumed,
        remaining_fraction=budget.remaining,
        allowed_minutes=state.minutes(budget.allowed_bad),
        consumed_minutes=state.minutes(budget.counts.bad),
        remaining_minutes=state.minutes(budget.allowed_bad - budget.counts.bad),
        spent=budget.spent,
    )


def objective_out(state: ObjectiveState) -> ObjectiveStatusOut:
    """The API view of one objective's state."""
    return ObjectiveStatusOut(
        kind=state.kind.value,
        objective=state.objective,
        threshold_ms=state.threshold_ms,
        status=state.health.value,
        sli=state.budget.sli if state.budget else None,
        good=state.counts.good,
        total=state.counts.total,
        unit="slices" if state.minutes(1) is not None else "events",
        budget=_budget_out(state),
        burn_rates=[
            BurnOut(
                window=format_window(b.window),
                burn_rate=b.rate,
                good=b.counts.good,
                total=b.counts.total,
            )
            for b in state.burns
        ],
        alerts=[
            AlertOut(
                severity=a.rule.severity.value,
                burn_rate=a.rule.burn_rate,
                long_window=format_window(a.rule.long_window),
                short_window=format_window(a.rule.short_window),
                long_burn=a.long_burn,
                short_burn=a.short_burn,
                status=a.status.value,
            )
            for a in state.alerts
        ],
        note=state.note,
    )


def state_out(state: SloState) -> SloStatusOut:
    """The API view of an SLO's state."""
    return SloStatusOut(
        slo=SloOut.model_validate(state.slo),
        evaluated_at=state.evaluated_at,
        period=PeriodOut(
            kind=state.slo.window_kind,
            start=state.period.elapsed.start,
            end=state.period.elapsed.end,
            period_end=state.period.whole.end,
        ),
        status=state.health.value,
        objectives=[objective_out(o) for o in state.objectives],
    )


@router.post("/slos", response_model=SloOut, status_code=status.HTTP_201_CREATED)
def create_slo(data: SloCreate, session: DbSession, actor: Manager) -> SloOut:
    """Define a service level objective for a service."""
    slo = service.create_slo(session, actor=actor, data=data)
    session.commit()
    return SloOut.model_validate(slo)


@router.get("/slos", response_model=Page[SloOut])
def list_slos(
    session: DbSession,
    _: Reader,
    service_key: Annotated[str | None, Query(alias="service", max_length=200)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[SloOut]:
    """SLOs, oldest first; filter by service."""
    found = service.list_slos(
        session, service=service_key, after_id=cursor_to_id(cursor), limit=limit
    )
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return Page(items=[SloOut.model_validate(s) for s in found], next_cursor=next_cursor)


@router.get("/slos/{slo_id}", response_model=SloOut)
def read_slo(slo_id: int, session: DbSession, _: Reader) -> SloOut:
    """One SLO."""
    return SloOut.model_validate(service.get_slo(session, slo_id=slo_id))


@router.get("/slos/{slo_id}/status", response_model=SloStatusOut)
def slo_status(slo_id: int, request: Request, session: DbSession, _: Reader) -> SloStatusOut:
    """Attainment, error budget, burn rates and burn-rate alerts of an SLO now."""
    slo = service.get_slo(session, slo_id=slo_id)
    return state_out(service.evaluate(session, slo=slo, settings=_settings(request)))


@router.get("/services/{key}/slo-status", response_model=ServiceSloStatusOut)
def service_slo_status(
    key: str, request: Request, session: DbSession, _: Reader
) -> ServiceSloStatusOut:
    """Every SLO of a service now, and whether its error budget is spent."""
    states = service.service_states(session, service=key, settings=_settings(request))
    overall = worst([s.health for s in states])
    return ServiceSloStatusOut(
        service=key,
        status=overall.value,
        budget_spent=overall is Health.BUDGET_SPENT,
        slos=[state_out(s) for s in states],
    )


@router.post("/slos/alerts/evaluate", response_model=AlertRunOut)
def evaluate_alerts(
    data: AlertRun, request: Request, session: DbSession, _: Manager
) -> AlertRunOut:
    """Evaluate burn-rate alerts now and raise the firing ones into the incident domain."""
    if data.service:
        service.service_states(session, service=data.service, settings=_settings(request))
    at = utcnow()
    raised = service.raise_alerts(
        session, settings=_settings(request), service=data.service, now=at
    )
    session.commit()
    return AlertRunOut(
        evaluated_at=at,
        sinks=sorted(REGISTRY.alert_sinks),
        alerts=[BurnAlertOut.model_validate(a, from_attributes=True) for a in raised.firing],
        quiet=list(raised.quiet),
    )


class TenantFormat(StrEnum):
    """How the tenant report is served."""

    JSON = "json"
    CSV = "csv"
    HTML = "html"


@router.get(
    "/tenants/{key}/availability",
    response_model=TenantAvailabilityOut,
    responses={200: {"content": {"text/csv": {}, "text/html": {}}}},
)
def tenant_availability(
    key: str,
    session: DbSession,
    _: Reader,
    months: Annotated[int, Query(ge=1, le=24)] = 6,
    fmt: Annotated[TenantFormat, Query(alias="format")] = TenantFormat.JSON,
) -> Response:
    """A tenant's availability per month with the incidents that cost it (json, csv, html)."""
    report = tenant_report.report_out(
        tenants.tenant_availability(session, tenant=key, months=months)
    )
    if fmt is TenantFormat.CSV:
        return PlainTextResponse(
            tenant_report.as_csv(report),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{key}-availability.csv"'},
        )
    if fmt is TenantFormat.HTML:
        return HTMLResponse(tenant_report.as_html(report))
    return JSONResponse(report.model_dump(mode="json"))
