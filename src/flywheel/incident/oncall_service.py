"""On-call schedules: create and read them, add overrides, and say who is on call."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth import service as auth_service
from flywheel.auth.actor import Actor
from flywheel.errors import Conflict, InvalidInput, NotFound
from flywheel.incident import oncall
from flywheel.incident.oncall_models import OnCallOverride, OnCallSchedule
from flywheel.incident.oncall_schemas import OverrideIn, ScheduleCreate


def _check_users(session: Session, usernames: list[str]) -> None:
    for username in usernames:
        try:
            auth_service.get_user(session, username=username)
        except NotFound as exc:
            raise InvalidInput(exc.message) from exc


def rotation_of(schedule: OnCallSchedule) -> oncall.Rotation:
    """The pure rotation a schedule row describes."""
    return oncall.Rotation(
        tuple(schedule.members),
        schedule.time_zone,
        schedule.start_date,
        time.fromisoformat(schedule.handoff),
        schedule.shift_hours,
    )


def create_schedule(session: Session, *, actor: Actor, data: ScheduleCreate) -> OnCallSchedule:
    """A new schedule; members must be users, the time zone an IANA name."""
    if session.scalar(select(OnCallSchedule.id).where(OnCallSchedule.key == data.key)):
        raise Conflict(f"schedule '{data.key}' exists")
    _check_users(session, data.members)
    hours = data.shift_hours or oncall.KIND_HOURS[data.rotation]
    schedule = OnCallSchedule(
        key=data.key,
        name=data.name,
        time_zone=data.time_zone,
        start_date=data.start_date,
        handoff=data.handoff,
        shift_hours=hours,
        members=list(data.members),
        created_by=actor.name,
    )
    try:
        rotation_of(schedule)
    except oncall.RotationError as exc:
        raise InvalidInput(str(exc)) from exc
    session.add(schedule)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="oncall.schedule.create",
        object_type="oncall_schedule",
        object_id=schedule.key,
        after=data.model_dump(mode="json"),
    )
    return schedule


def list_schedules(session: Session) -> list[OnCallSchedule]:
    """Every schedule, by key."""
    return list(session.scalars(select(OnCallSchedule).order_by(OnCallSchedule.key)))


def get_schedule(session: Session, *, key: str) -> OnCallSchedule:
    """The schedule with this key, or NotFound."""
    found = session.scalar(select(OnCallSchedule).where(OnCallSchedule.key == key))
    if found is None:
        raise NotFound(f"no on-call schedule '{key}'")
    return found


def overrides_of(
    session: Session, schedule: OnCallSchedule, *, ending_after: datetime | None = None
) -> list[OnCallOverride]:
    """The schedule's overrides, oldest first (the newest wins where they overlap)."""
    query = select(OnCallOverride).where(OnCallOverride.schedule_id == schedule.id)
    if ending_after is not None:
        query = query.where(OnCallOverride.ends_at > ending_after)
    return list(session.scalars(query.order_by(OnCallOverride.id)))


def add_override(session: Session, *, actor: Actor, key: str, data: OverrideIn) -> OnCallOverride:
    """Someone covers a period of the schedule."""
    schedule = get_schedule(session, key=key)
    if data.ends_at <= data.starts_at:
        raise InvalidInput("an override must end after it starts")
    _check_users(session, [data.username])
    override = OnCallOverride(
        schedule_id=schedule.id,
        username=data.username,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        reason=data.reason,
        created_by=actor.name,
    )
    session.add(override)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="oncall.override.add",
        object_type="oncall_schedule",
        object_id=schedule.key,
        after=data.model_dump(mode="json"),
        reason=data.reason or None,
    )
    return override


def _pure(overrides: list[OnCallOverride]) -> list[oncall.Override]:
    return [oncall.Override(o.username, o.starts_at, o.ends_at) for o in overrides]


def who_is_on_call(session: Session, *, key: str, at: datetime) -> oncall.Shift | None:
    """Who is on call on the schedule at `at` (None before its first handoff)."""
    schedule = get_schedule(session, key=key)
    overrides = overrides_of(session, schedule, ending_after=at)
    return oncall.who_is_on_call(rotation_of(schedule), _pure(overrides), at)


def shifts(
    session: Session, *, schedule: OnCallSchedule, since: datetime, days: int
) -> list[oncall.Shift]:
    """The schedule's shifts over `days` days from `since`, overrides cut in."""
    overrides = overrides_of(session, schedule, ending_after=since)
    until = since + timedelta(days=days)
    try:
        return oncall.shifts_between(rotation_of(schedule), _pure(overrides), since, until)
    except oncall.RotationError as exc:
        raise InvalidInput(str(exc)) from exc
