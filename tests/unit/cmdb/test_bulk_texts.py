"""The comma-joined texts the PostgreSQL bulk writer passes to string_to_array."""

from __future__ import annotations

import pytest

from flywheel.cmdb import bulk_postgres


def test_keys_are_joined_by_commas() -> None:
    joined = bulk_postgres._joined(["host-1", "db:primary@eu", "a.b-c"])
    assert joined == "host-1,db:primary@eu,a.b-c"


def test_no_keys_join_to_an_empty_text() -> None:
    assert bulk_postgres._joined([]) == ""


def test_a_key_holding_a_comma_is_refused_rather_than_split() -> None:
    with pytest.raises(ValueError, match="comma"):
        bulk_postgres._joined(["host-1", "host,2"])
