"""Which roles and teams identity-provider groups grant, and usernames from claims."""

from __future__ import annotations

import pytest

from flywheel.auth.roles import Role
from flywheel.auth.sso import check_role_map, groups_in, identity_from, username_from
from flywheel.errors import InvalidInput

ROLES = {"sre": ["operator"], "eng": ["developer"], "cab": ["change_manager", "developer"]}


@pytest.mark.parametrize(
    ("claim", "expected"),
    [(["a", "b"], ["a", "b"]), ("a b,c", ["a", "b", "c"]), (None, []), (7, [])],
)
def test_groups_come_as_a_list_or_a_string(claim: object, expected: list[str]) -> None:
    assert groups_in({"groups": claim}, "groups") == expected


def test_roles_are_the_union_of_the_mapped_groups() -> None:
    claims = {"preferred_username": "Dana", "groups": ["eng", "cab", "other"], "name": "Dana"}
    found = identity_from(claims, groups_claim="groups", role_map=ROLES, team_map={"eng": ["pay"]})
    assert found.username == "dana"
    assert found.roles == [Role.CHANGE_MANAGER, Role.DEVELOPER]
    assert found.teams == ["pay"]


def test_unmapped_groups_grant_nothing() -> None:
    found = identity_from(
        {"preferred_username": "x", "groups": ["marketing"]},
        groups_claim="groups",
        role_map=ROLES,
        team_map={},
    )
    assert found.roles == [] and found.teams == []


def test_username_falls_back_to_the_email_and_must_be_valid() -> None:
    assert username_from({"email": "oscar.k@example.com"}) == "oscar.k"
    with pytest.raises(InvalidInput, match="not a valid Flywheel username"):
        username_from({"preferred_username": "Robert'); DROP TABLE users;--"})
    with pytest.raises(InvalidInput):
        username_from({})


def test_an_unknown_role_in_the_map_is_named() -> None:
    with pytest.raises(InvalidInput, match="unknown role"):
        check_role_map({"sre": ["superuser"]})
    check_role_map(ROLES)
