"""Approving, rejecting and breaking glass on changes, with separation of duties."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth import service as auth_service
from flywheel.auth.actor import Actor
from flywheel.auth.policy import require_different_person
from flywheel.auth.roles import Permission
from flywheel.change.lifecycle import ChangeType, IllegalTransition, State
from flywheel.change.models import ChangeApproval, ChangeCommit, ChangeRequest
from flywheel.change.policy import ApprovalRequirement
from flywheel.change.steps import awaiting_state, get_change, walk
from flywheel.db import utcnow
from flywheel.errors import Conflict, PermissionDenied


def _requirements(change: ChangeRequest) -> list[ApprovalRequirement]:
    decision = change.decision or {}
    return [
        ApprovalRequirement(tuple(r["by"]), int(r["count"])) for r in decision.get("approvals", [])
    ]


def _matching(
    requirements: list[ApprovalRequirement], roles: list[str], teams: list[str]
) -> list[str]:
    return [" | ".join(r.by) for r in requirements if r.accepts(roles=roles, teams=teams)]


def _check_separation(session: Session, change: ChangeRequest, actor: Actor) -> None:
    require_different_person(
        actor, change.requested_by_user_id, duty="approve a change they requested"
    )
    if actor.user_id is None:
        return
    user = auth_service.get_user(session, username=actor.name)
    names = {actor.name.lower(), (user.email or "").lower(), user.full_name.lower()} - {""}
    if any((c.author or "").lower() in names for c in change.commits):
        require_different_person(
            actor, actor.user_id, duty="approve a change carrying a commit they authored"
        )


def _people(session: Session, actor: Actor) -> tuple[list[str], list[str]]:
    if actor.user_id is None:
        return [r.value for r in actor.roles], []
    return [r.value for r in actor.roles], auth_service.get_user(
        session, username=actor.name
    ).team_keys


def _satisfied(session: Session, change: ChangeRequest) -> bool:
    requirements = _requirements(change)
    approvers = [a for a in change.approvals if a.verdict == "approve"]
    for requirement in requirements:
        matching = 0
        for approval in approvers:
            user = auth_service.get_user(session, username=approval.username)
            if requirement.accepts(roles=user.role_names, teams=user.team_keys):
                matching += 1
        if matching < requirement.count:
            return False
    return True


def _ensure_awaiting(change: ChangeRequest) -> None:
    if change.state != awaiting_state(ChangeType(change.type)).value:
        raise IllegalTransition(
            f"{change.number} is not awaiting approval (it is '{change.state}')"
        )


@dataclass(frozen=True)
class _Judge:
    """What decides whether a person may give a verdict: roles, teams, names they commit as."""

    actor: Actor
    roles: list[str]
    teams: list[str]
    names: frozenset[str]


def _judge(session: Session, actor: Actor) -> _Judge:
    roles, teams = _people(session, actor)
    names: frozenset[str] = frozenset()
    if actor.user_id is not None:
        user = auth_service.get_user(session, username=actor.name)
        names = frozenset({actor.name.lower(), (user.email or "").lower(), user.full_name.lower()})
    return _Judge(actor, roles, teams, names - {""})


def _open_verdicts(judge: _Judge, change: ChangeRequest) -> frozenset[str]:
    actor = judge.actor
    awaiting = change.state == awaiting_state(ChangeType(change.type)).value
    if not awaiting or not actor.can(Permission.CHANGE_APPROVE):
        return frozenset()
    if actor.user_id is not None and actor.user_id == change.requested_by_user_id:
        return frozenset()
    if any(a.user_id == actor.user_id for a in change.approvals):
        return frozenset()
    if any((c.author or "").lower() in judge.names for c in change.commits):
        return frozenset()
    matched = bool(_matching(_requirements(change), judge.roles, judge.teams))
    open_to = {"approve"} if matched else set()
    if matched or "change_manager" in judge.roles or "admin" in judge.roles:
        open_to.add("reject")
    return frozenset(open_to)


def verdicts_open_to(session: Session, *, actor: Actor, change: ChangeRequest) -> frozenset[str]:
    """Which of 'approve' and 'reject' the actor could give on the change now (for showing)."""
    return _open_verdicts(_judge(session, actor), change)


AWAITING_SCAN = 500


def _awaiting_ids(session: Session, judge: _Judge, cap: int) -> list[int]:
    """Ids of changes (newest first, of the newest 500 waiting) the judge could approve.

    Reads only what the decision rests on, in three queries: each waiting change's required
    approvers, the changes the judge gave a verdict on, those with commits the judge wrote.
    """
    actor = judge.actor
    waiting = or_(
        ChangeRequest.state == State.AUTHORIZE.value,
        and_(ChangeRequest.type == ChangeType.STANDARD.value, ChangeRequest.state == "new"),
    )
    rows = session.execute(
        select(
            ChangeRequest.id,
            ChangeRequest.requested_by_user_id,
            ChangeRequest.decision["approvals"],
        )
        .where(waiting)
        .order_by(ChangeRequest.id.desc())
        .limit(AWAITING_SCAN)
    ).all()
    candidates = [
        change_id
        for change_id, requester, approvals in rows
        if (actor.user_id is None or requester != actor.user_id)
        and _matching(
            [ApprovalRequirement(tuple(r["by"]), int(r["count"])) for r in approvals or []],
            judge.roles,
            judge.teams,
        )
    ]
    if not candidates:
        return []
    given = set(
        session.scalars(
            select(ChangeApproval.change_id).where(ChangeApproval.user_id == (actor.user_id or 0))
        )
    )
    authored = set()
    if judge.names:
        authored = set(
            session.scalars(
                select(ChangeCommit.change_id).where(
                    func.lower(ChangeCommit.author).in_(sorted(judge.names))
                )
            )
        )
    return [c for c in candidates if c not in given and c not in authored][:cap]


def awaiting_decision(session: Session, *, actor: Actor, limit: int = 50) -> list[ChangeRequest]:
    """Changes waiting for an approval the actor could give, newest first (of the newest 500)."""
    if not actor.can(Permission.CHANGE_APPROVE):
        return []
    judge = _judge(session, actor)
    ids = _awaiting_ids(session, judge, limit)
    if not ids:
        return []
    loaded = {
        c.id: c for c in session.scalars(select(ChangeRequest).where(ChangeRequest.id.in_(ids)))
    }
    return [loaded[i] for i in ids if "approve" in _open_verdicts(judge, loaded[i])]


def count_awaiting_decision(session: Session, *, actor: Actor, cap: int = 100) -> int:
    """How many changes wait for an approval the actor could give (counted up to `cap`)."""
    if not actor.can(Permission.CHANGE_APPROVE):
        return 0
    return len(_awaiting_ids(session, _judge(session, actor), cap))


def approve(session: Session, *, actor: Actor, change_id: int, comment: str = "") -> ChangeRequest:
    """Record an approval; the change is scheduled once every requirement is met."""
    change = get_change(session, change_id=change_id, lock=True)
    _ensure_awaiting(change)
    _check_separation(session, change, actor)
    if any(a.user_id == actor.user_id for a in change.approvals):
        raise Conflict(f"'{actor.name}' already gave a verdict on {change.number}")
    roles, teams = _people(session, actor)
    matched = _matching(_requirements(change), roles, teams)
    if not matched:
        wanted = "; ".join(" | ".join(r.by) for r in _requirements(change)) or "nobody (blocked)"
        raise PermissionDenied(
            f"'{actor.name}' is not among the approvers {change.number} needs: {wanted}"
        )
    change.approvals.append(
        ChangeApproval(
            user_id=actor.user_id or 0,
            username=actor.name,
            verdict="approve",
            as_role=", ".join(matched),
            comment=comment,
        )
    )
    change.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="change.approve",
        object_type="change",
        object_id=change.number,
        after={"as": matched},
        reason=comment or None,
    )
    blocked = bool((change.decision or {}).get("blockers"))
    if _satisfied(session, change) and not blocked:
        walk(session, change, State.SCHEDULED, actor=actor, reason="all approvals given")
    return change


def reject(session: Session, *, actor: Actor, change_id: int, reason: str) -> ChangeRequest:
    """Reject a change awaiting approval; only someone who could approve it may."""
    change = get_change(session, change_id=change_id, lock=True)
    _ensure_awaiting(change)
    require_different_person(
        actor, change.requested_by_user_id, duty="reject a change they requested"
    )
    roles, teams = _people(session, actor)
    if (
        not _matching(_requirements(change), roles, teams)
        and "change_manager" not in roles
        and "admin" not in roles
    ):
        raise PermissionDenied(f"'{actor.name}' is not among the approvers of {change.number}")
    change.approvals.append(
        ChangeApproval(
            user_id=actor.user_id or 0, username=actor.name, verdict="reject", comment=reason
        )
    )
    walk(session, change, State.REJECTED, actor=actor, reason=reason)
    return change


def override_freeze(
    session: Session, *, actor: Actor, change_id: int, reason: str
) -> ChangeRequest:
    """Break glass: let a change proceed through a blackout, if the actor's role may."""
    change = get_change(session, change_id=change_id, lock=True)
    blockers = (change.decision or {}).get("blockers", [])
    if not blockers:
        raise Conflict(f"{change.number} is not blocked by a blackout window")
    roles = {r.value for r in actor.roles}
    refused = [b["window"] for b in blockers if roles.isdisjoint(b["override_roles"])]
    if refused:
        raise PermissionDenied(
            f"'{actor.name}' may not override blackout window(s) {', '.join(refused)}"
        )
    change.decision = {
        **(change.decision or {}),
        "override": {"by": actor.name, "reason": reason, "at": utcnow().isoformat()},
        "blockers": [],
    }
    change.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="change.break_glass",
        object_type="change",
        object_id=change.number,
        after={"windows": [b["window"] for b in blockers]},
        reason=reason,
    )
    if change.state == awaiting_state(ChangeType(change.type)).value and _satisfied(
        session, change
    ):
        walk(session, change, State.SCHEDULED, actor=actor, reason="blackout overridden")
    return change
