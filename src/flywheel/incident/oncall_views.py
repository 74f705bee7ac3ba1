"""API routes of on-call: schedules, overrides, and who is on call."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.db import utcnow
from flywheel.errors import InvalidInput
from flywheel.http.deps import DbSession, require
from flywheel.incident import oncall, oncall_service
from flywheel.incident.oncall_schemas import (
    OverrideIn,
    OverrideOut,
    ScheduleCreate,
    ScheduleDetail,
    ScheduleOut,
    ShiftOut,
    WhoOut,
)

router = APIRouter(prefix="/oncall", tags=["on-call"])

Reader = Annotated[Actor, Depends(require(Permission.INCIDENT_READ))]
Manager = Annotated[Actor, Depends(require(Permission.ONCALL_MANAGE))]
At = Annotated[datetime | None, Query(description="An ISO time with its zone (default: now)")]


def _moment(at: datetime | None) -> datetime:
    if at is None:
        return utcnow()
    try:
        return oncall.aware(at)
    except oncall.RotationError as exc:
        raise InvalidInput(f"{exc}: add one, e.g. 2025-03-30T09:00:00+02:00") from exc


def _shift(shift: oncall.Shift) -> ShiftOut:
    return ShiftOut(
        username=shift.username,
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
        override=shift.override,
    )


@router.post("/schedules", response_model=ScheduleOut, status_code=status.HTTP_201_CREATED)
def create_schedule(data: ScheduleCreate, session: DbSession, actor: Manager) -> ScheduleOut:
    """A new on-call schedule (daily, weekly or custom-length rotation)."""
    schedule = oncall_service.create_schedule(session, actor=actor, data=data)
    session.commit()
    return ScheduleOut.model_validate(schedule)


@router.get("/schedules", response_model=list[ScheduleOut])
def list_schedules(session: DbSession, _: Reader) -> list[ScheduleOut]:
    """Every on-call schedule."""
    return [ScheduleOut.model_validate(s) for s in oncall_service.list_schedules(session)]


@router.get("/schedules/{key}", response_model=ScheduleDetail)
def read_schedule(
    key: str,
    session: DbSession,
    _: Reader,
    since: At = None,
    days: Annotated[int, Query(ge=1, le=92)] = 14,
) -> ScheduleDetail:
    """A schedule, its current and coming overrides, and its shifts for `days` from `since`."""
    begin = _moment(since)
    schedule = oncall_service.get_schedule(session, key=key)
    overrides = oncall_service.overrides_of(session, schedule, ending_after=begin)
    shifts = oncall_service.shifts(session, schedule=schedule, since=begin, days=days)
    return ScheduleDetail(
        **ScheduleOut.model_validate(schedule).model_dump(),
        overrides=[OverrideOut.model_validate(o) for o in overrides],
        shifts=[_shift(s) for s in shifts],
    )


@router.post(
    "/schedules/{key}/overrides",
    response_model=OverrideOut,
    status_code=status.HTTP_201_CREATED,
)
def add_override(key: str, data: OverrideIn, session: DbSession, actor: Manager) -> OverrideOut:
    """Someone covers a period of the schedule (the newest override wins)."""
    override = oncall_service.add_override(session, actor=actor, key=key, data=data)
    session.commit()
    return OverrideOut.model_validate(override)


@router.get("/who", response_model=WhoOut)
def who(
    session: DbSession,
    _: Reader,
    schedule: Annotated[str, Query(min_length=1, max_length=64)],
    at: At = None,
) -> WhoOut:
    """Who is on call on a schedule at a time (default: now)."""
    moment = _moment(at)
    found = oncall_service.who_is_on_call(session, key=schedule, at=moment)
    return WhoOut(schedule=schedule, at=moment, on_call=_shift(found) if found else None)
