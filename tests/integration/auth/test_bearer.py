"""Several bearer tokens checked at once: each gets its own actor or its own reason."""

from __future__ import annotations

from sqlalchemy import update

from flywheel.auth import service as auth_service
from flywheel.auth.bearer import authenticate_tokens
from flywheel.auth.models import User
from flywheel.auth.roles import Role
from flywheel.db import Database
from flywheel.errors import Unauthenticated
from tests.factories import SYSTEM, make_person, make_team


def test_each_token_of_a_batch_gets_its_own_actor_or_reason(db: Database) -> None:
    dev, admin = make_person(db), make_person(db, Role.ADMIN, Role.CHANGE_MANAGER)
    gone, frozen = make_person(db), make_person(db)
    with db.session(write=True) as session:
        make_team(session, members=[admin.username])
        token_id = auth_service.list_tokens(session, actor=SYSTEM, username=gone.username)[0].id
        auth_service.revoke_token(session, actor=SYSTEM, token_id=token_id)
        session.execute(update(User).where(User.id == frozen.user_id).values(is_active=False))
        session.commit()
    secrets = [dev.token, admin.token, gone.token, frozen.token, "fw_nobody"]
    with db.session() as session:
        found = authenticate_tokens(session, secrets)
    assert set(found) == set(secrets)
    mine, boss = found[dev.token], found[admin.token]
    assert not isinstance(mine, Unauthenticated) and not isinstance(boss, Unauthenticated)
    assert (mine.name, mine.user_id, mine.roles) == (dev.username, dev.user_id, {Role.DEVELOPER})
    assert boss.roles == {Role.ADMIN, Role.CHANGE_MANAGER} and len(boss.team_ids) == 1
    assert mine.team_ids == frozenset() and mine.token_id != boss.token_id
    reasons = {s: str(v) for s, v in found.items() if isinstance(v, Unauthenticated)}
    assert "revoked" in reasons[gone.token]
    assert "deactivated" in reasons[frozen.token]
    assert "unknown" in reasons["fw_nobody"]


def test_one_token_is_the_same_actor_as_in_a_batch(db: Database) -> None:
    dev = make_person(db, Role.DEVELOPER, Role.CHANGE_MANAGER)
    with db.session() as session:
        alone = auth_service.authenticate_token(session, secret=dev.token)
        batched = authenticate_tokens(session, [dev.token, dev.token])[dev.token]
    assert alone == batched
    assert alone.roles == {Role.DEVELOPER, Role.CHANGE_MANAGER}
