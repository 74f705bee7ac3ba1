"""Policies and windows: the rules changes are decided by, and the calendar they live on."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.auth.roles import Role
from flywheel.change import windows as window_rules
from flywheel.change.assessment import DEFAULT_SCOPE, active_policy, to_window
from flywheel.change.conflict_reads import DEFAULT_DURATION
from flywheel.change.models import ChangePolicy, ChangeRequest, ChangeWindow
from flywheel.change.policy import PolicyError, parse_policy
from flywheel.change.schemas import CalendarEntry, WindowCreate
from flywheel.cmdb import service as cmdb
from flywheel.errors import InvalidInput, NotFound

MAX_CALENDAR_SPAN = timedelta(days=400)


def apply_policy(session: Session, *, actor: Actor, scope: str, text: str) -> ChangePolicy:
    """Store a new version of a service's (or the default, '*') change policy."""
    if scope != DEFAULT_SCOPE:
        try:
            cmdb.get_ci(session, key=scope)
        except NotFound as exc:
            raise InvalidInput(f"unknown service '{scope}'") from exc
    try:
        policy = parse_policy(text)
    except PolicyError as exc:
        raise InvalidInput(f"invalid policy: {exc}") from exc
    current = session.scalar(
        select(func.max(ChangePolicy.version)).where(ChangePolicy.scope == scope)
    )
    row = ChangePolicy(scope=scope, version=(current or 0) + 1, text=text, created_by=actor.name)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="change.policy.apply",
        object_type="change_policy",
        object_id=f"{scope}@{row.version}",
        after={"scope": scope, "version": row.version, "policy": policy.to_dict()},
    )
    return row


def policy_for(session: Session, *, scope: str) -> tuple[str, str, int]:
    """The policy text in force for a scope: (text, scope it came from, version)."""
    policy, source, version = active_policy(session, service=scope)
    if version:
        row = session.scalar(
            select(ChangePolicy).where(
                ChangePolicy.scope == source, ChangePolicy.version == version
            )
        )
        assert row is not None
        return row.text, source, version
    return policy.to_yaml(), source, version


def policy_history(session: Session, *, scope: str) -> list[ChangePolicy]:
    """Every stored version of a scope's policy, newest first."""
    query = select(ChangePolicy).where(ChangePolicy.scope == scope)
    return list(session.scalars(query.order_by(ChangePolicy.version.desc())))


def _scope_parts(session: Session, scope: str) -> tuple[str, str | None]:
    if scope == "all":
        return "all", None
    kind, _, key = scope.partition(":")
    if kind not in ("service", "ci") or not key:
        raise InvalidInput(f"scope must be 'all', 'service:KEY' or 'ci:KEY', not '{scope}'")
    try:
        cmdb.get_ci(session, key=key)
    except NotFound as exc:
        raise InvalidInput(f"window scope names unknown CI '{key}'") from exc
    return kind, key


def create_window(session: Session, *, actor: Actor, data: WindowCreate) -> ChangeWindow:
    """Add a blackout or maintenance window after checking it is well-formed."""
    scope_type, scope_key = _scope_parts(session, data.scope)
    unknown = sorted(set(data.override_roles) - {r.value for r in Role})
    if unknown:
        raise InvalidInput(f"unknown override roles: {', '.join(unknown)}")
    row = ChangeWindow(
        name=data.name,
        kind=data.kind,
        scope_type=scope_type,
        scope_key=scope_key,
        include_dependents=data.include_dependents,
        start=data.start,
        end=data.end,
        rrule=data.rrule,
        duration_minutes=data.duration_minutes,
        timezone=data.timezone,
        override_roles=sorted(set(data.override_roles)),
        reason=data.reason,
        created_by=actor.name,
    )
    try:
        to_window(row)
    except (window_rules.WindowError, ValueError) as exc:
        raise InvalidInput(str(exc)) from exc
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="change.window.create",
        object_type="change_window",
        object_id=row.id,
        after=data.model_dump(mode="json"),
    )
    return row


def list_windows(session: Session, *, include_inactive: bool = False) -> list[ChangeWindow]:
    """Windows, newest first."""
    query = select(ChangeWindow)
    if not include_inactive:
        query = query.where(ChangeWindow.active.is_(True))
    return list(session.scalars(query.order_by(ChangeWindow.id.desc())))


def deactivate_window(session: Session, *, actor: Actor, window_id: int) -> ChangeWindow:
    """End a window (kept for the record, no longer applied)."""
    row = session.get(ChangeWindow, window_id)
    if row is None:
        raise NotFound(f"no window {window_id}")
    if row.active:
        row.active = False
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="change.window.deactivate",
            object_type="change_window",
            object_id=row.id,
            before={"active": True},
            after={"active": False},
        )
    return row


def calendar(session: Session, *, start: datetime, end: datetime) -> list[CalendarEntry]:
    """Changes planned or running and window occurrences between start and end."""
    if end <= start:
        raise InvalidInput("'to' must be after 'from'")
    if end - start > MAX_CALENDAR_SPAN:
        raise InvalidInput(f"a calendar spans at most {MAX_CALENDAR_SPAN.days} days")
    entries = [
        CalendarEntry(
            kind=f"window:{o.window.kind}",
            start=o.interval.start,
            end=o.interval.end,
            title=o.window.name,
            window_id=row.id,
        )
        for row in list_windows(session)
        for o in window_rules.calendar([to_window(row)], start, end)
    ]
    changes = session.scalars(
        select(ChangeRequest).where(
            ChangeRequest.planned_start < end,
            or_(ChangeRequest.planned_end.is_(None), ChangeRequest.planned_end > start),
        )
    )
    for change in changes:
        assert change.planned_start is not None
        entries.append(
            CalendarEntry(
                kind="change",
                start=change.planned_start,
                end=change.planned_end or change.planned_start + DEFAULT_DURATION,
                title=change.title,
                change=change.number,
                state=change.state,
            )
        )
    return sorted(entries, key=lambda e: (e.start, e.end, e.title))
