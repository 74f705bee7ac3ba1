"""Helpers for tests that need real components: skip on a laptop, fail in CI."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, make_url, text

from flywheel.config import normalize_database_url

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_component(available: bool, reason: str) -> None:
    """Skip the test when a real component is missing, but fail in CI."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"CI must run this test but {reason}")
    pytest.skip(reason)


def postgres_server_url() -> str | None:
    """The PostgreSQL server the tests may use, from FLYWHEEL_TEST_POSTGRES_URL."""
    url = os.environ.get("FLYWHEEL_TEST_POSTGRES_URL")
    return normalize_database_url(url) if url else None


@contextmanager
def fresh_postgres_database(server_url: str, prefix: str = "flywheel_test") -> Iterator[str]:
    """Create a new, empty database on the server and drop it afterwards."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
