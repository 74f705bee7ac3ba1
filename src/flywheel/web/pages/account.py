"""Your account (and its sessions) and, for those who may read them, other people's."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request
from starlette.responses import Response

from flywheel.auth import service as auth_service
from flywheel.auth.roles import Permission
from flywheel.errors import PermissionDenied
from flywheel.http.deps import DbSession
from flywheel.web import service
from flywheel.web.rendering import redirect, render
from flywheel.web.sections import console_router
from flywheel.web.security import CheckedForm, CurrentViewer, Viewer, require_page

router = console_router()
PeopleReader = Annotated[Viewer, require_page(Permission.USER_READ)]

NOTICES = {"signed-out": "Every console session of this user has ended."}


@router.get("/account")
def account_page(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    """Who you are, your roles and teams, and the console sessions you have open."""
    user = auth_service.get_user(session, username=viewer.name)
    assert viewer.actor.user_id is not None
    sessions = service.open_sessions(session, user_id=viewer.actor.user_id)
    return render(
        request,
        "account/account.html",
        title="Your account",
        user=user,
        sessions=sessions,
        current=service.session_of(sessions, viewer.session_key),
    )


@router.get("/users")
def user_list(request: Request, session: DbSession, viewer: PeopleReader) -> Response:
    """Everyone with an account, oldest first."""
    users = auth_service.list_users(session, limit=500)
    return render(request, "account/users.html", title="People", users=users)


@router.get("/users/{username}")
def user_page(
    request: Request, username: str, session: DbSession, viewer: PeopleReader
) -> Response:
    """One person: roles, teams, status and how many console sessions they have open."""
    user = auth_service.get_user(session, username=username)
    return render(
        request,
        "account/user.html",
        title=user.username,
        user=user,
        sessions=service.open_sessions(session, user_id=user.id),
        notice=NOTICES.get(request.query_params.get("notice", ""), ""),
    )


@router.post("/users/{username}/sign-out-everywhere")
def sign_user_out(
    request: Request, username: str, session: DbSession, viewer: PeopleReader, _: CheckedForm
) -> Response:
    """End every console session of another person (administrators)."""
    if not viewer.can(Permission.USER_MANAGE):
        raise PermissionDenied(
            f"'{viewer.name}' may not sign other people out ({Permission.USER_MANAGE})"
        )
    service.end_sessions_everywhere(session, actor=viewer.actor, username=username)
    session.commit()
    return redirect(request, f"/users/{username}?notice=signed-out")
