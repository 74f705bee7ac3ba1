"""Delivery pages: the four keys with their bands, where the time goes, lagging behind."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from flywheel.auth.roles import Permission
from flywheel.db import utcnow
from flywheel.delivery import bands, timing
from flywheel.delivery import service as delivery_service
from flywheel.delivery.schemas import (
    KeysOut,
    TimeToDeliveryOut,
    keys_out,
    time_to_delivery_out,
)
from flywheel.errors import FlywheelError
from flywheel.http.deps import DbSession
from flywheel.web import charts, delivery_charts, delivery_view, recent
from flywheel.web.rendering import render
from flywheel.web.sections import Panel, Section, console_router
from flywheel.web.security import Viewer, require_page

router = console_router()
Reader = Annotated[Viewer, require_page(Permission.DELIVERY_READ)]
DEFAULT_DAYS = 90
OVERVIEW_DAYS = 30
SUMMARY_KEPT_S = 60.0


def _scope(session: Session, service: str) -> list[str] | None:
    return delivery_service.scope_services(session, service=service or None, team=None)


def _keys(
    session: Session, period: delivery_service.Period, scope: list[str] | None
) -> tuple[KeysOut, list[KeysOut]]:
    report = delivery_service.metrics(session, period=period, services=scope)
    per_service = [keys_out(k, v) for k, v in report.services.items()]
    return keys_out(None, report.total), per_service


def _ttd(
    session: Session, period: delivery_service.Period, scope: list[str] | None
) -> TimeToDeliveryOut:
    report = timing.time_to_delivery(session, period=period, services=scope)
    return time_to_delivery_out(report, service=None, team=None)


def _period(days: int) -> delivery_service.Period:
    until = utcnow()
    return delivery_service.check_period(until - timedelta(days=days), until)


@router.get("/delivery")
def delivery_page(
    request: Request,
    session: DbSession,
    viewer: Reader,
    days: Annotated[int, Query(ge=1, le=1096)] = DEFAULT_DAYS,
    service: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """The four keys, time-to-delivery by phase over time, produced vs delivered per week."""
    chosen: dict[str, Any] = {"days": days, "service": service.strip()}
    try:
        delivery_view.check_days(days)
        scope = _scope(session, chosen["service"])
    except (ValueError, FlywheelError) as exc:
        message = exc.message if isinstance(exc, FlywheelError) else str(exc)
        return render(
            request,
            "delivery/page.html",
            status=422,
            error=message,
            title="Delivery",
            chosen=chosen,
            periods=delivery_view.PERIODS,
            report=None,
        )
    period = _period(days)
    before = delivery_service.check_period(*delivery_view.period_before(period.since, period.until))
    total, per_service = _keys(session, period, scope)
    previous, _ = _keys(session, before, scope)
    ttd = _ttd(session, period, scope)
    weeks = delivery_view.weekly_means(ttd)
    flow = delivery_view.weekly_flow(ttd)
    return render(
        request,
        "delivery/page.html",
        title="Delivery",
        chosen=chosen,
        periods=delivery_view.PERIODS,
        report=True,
        period=period,
        cards=delivery_view.key_cards(total, previous),
        ttd_card=delivery_view.ttd_card(ttd),
        per_service=per_service,
        ttd=ttd,
        phase_labels=delivery_charts.PHASE_LABELS,
        ttd_chart=charts.as_json(delivery_charts.time_to_delivery(weeks)),
        flow=flow,
        flow_chart=charts.as_json(delivery_charts.lagging_behind(flow)),
        duration=delivery_view.duration,
        bands_source=bands.SOURCE,
    )


def _summary(session: Session, viewer: Viewer) -> Mapping[str, Any]:
    # Four reports over two months of history: the overview keeps them for a minute.
    cards = recent.remembered(session, "delivery.summary", SUMMARY_KEPT_S, lambda: _cards(session))
    return {"cards": cards, "days": OVERVIEW_DAYS, "kept_s": SUMMARY_KEPT_S}


def _cards(session: Session) -> list[delivery_view.KeyCard]:
    period = _period(OVERVIEW_DAYS)
    before = delivery_service.check_period(*delivery_view.period_before(period.since, period.until))
    total, _ = _keys(session, period, None)
    previous, _ = _keys(session, before, None)
    cards = delivery_view.key_cards(total, previous)
    ttd_now, ttd_before = _ttd(session, period, None), _ttd(session, before, None)
    return [delivery_view.ttd_card(ttd_now, ttd_before), *cards]


SECTION = Section(
    label="Delivery",
    path="/delivery",
    router=router,
    permission=Permission.DELIVERY_READ,
    panels=(
        Panel(
            "Delivery, last 30 days",
            "delivery/_summary_panel.html",
            _summary,
            permission=Permission.DELIVERY_READ,
            wide=True,
            order=30,
        ),
    ),
)
