"""A throwaway PostgreSQL database for a benchmark run, created and dropped on the server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError

from flywheel.config import normalize_database_url


class ServerUnavailable(Exception):
    """The server could not create the scratch database; the message says why."""


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """The URL of a new, empty database `flywheel_bench_<random>`, dropped afterwards."""
    server = normalize_database_url(server_url)
    admin = create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    name = f"flywheel_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except SQLAlchemyError as exc:
        admin.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ServerUnavailable(reason) from exc
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
