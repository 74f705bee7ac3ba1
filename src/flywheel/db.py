"""Database engine, sessions and the declarative base."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from flywheel.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


# Set only by `backdated`: lets recorded history (the demo's 90 days, an import of what an
# external tool did) go through the same service functions as live work, at its own times.
_BACKDATED: ContextVar[datetime | None] = ContextVar("flywheel_backdated", default=None)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (or the moment `backdated` set)."""
    return _BACKDATED.get() or datetime.now(UTC)


@contextmanager
def backdated(moment: datetime) -> Iterator[None]:
    """Within the block (this thread or task only), `utcnow()` answers `moment`."""
    token = _BACKDATED.set(moment.astimezone(UTC))
    try:
        yield
    finally:
        _BACKDATED.reset(token)


def as_utc(moment: datetime | None) -> datetime | None:
    """A timestamp in UTC; a naive one is taken to be UTC already."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; give a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base class of every Flywheel table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[str]: JSONType,
        list[int]: JSONType,
        list[Any]: JSONType,
    }


WRITE_OPTION = "flywheel_write"


def _configure_sqlite(engine: Engine, settings: Settings) -> None:
    """WAL, foreign keys, and BEGIN IMMEDIATE for write transactions."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take over transaction control from pysqlite so BEGIN can be IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={settings.sqlite_synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={settings.sqlite_busy_timeout_ms}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writer takes the lock up front: read-then-write transactions never
        # fail half-way with SQLITE_BUSY and the audit chain head stays consistent.
        if conn.get_execution_options().get(WRITE_OPTION, False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # SQLITE_BUSY arrives as OperationalError
        else:
            # A deferred BEGIN takes no lock and cannot be busy: straight to the driver,
            # skipping a full SQLAlchemy statement execution on every read session.
            conn.connection.driver_connection.execute("BEGIN")


def build_engine(url: str, settings: Settings) -> Engine:
    """An engine for the URL, configured for Flywheel's needs."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            # The same bound as PostgreSQL's pool plus overflow, but all kept open: under load
            # overflow connections were opened (with their PRAGMAs) and closed per request.
            pool_size=settings.db_pool_size * 3,
            max_overflow=0,
        )
        _configure_sqlite(engine, settings)
        return engine
    return create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size * 2,
        pool_pre_ping=True,
        # No server-side prepared statements: PostgreSQL keeps the generic plan it made
        # when a table was small until the next ANALYZE, and with autovacuum off or slow a
        # young database kept seq-scanning (change decisions slowed 2.5x within 13,000
        # changes). Planning each time cost nothing measurable, and it works behind PgBouncer.
        connect_args={"prepare_threshold": None},
    )


class Database:
    """An engine with read and write session factories."""

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.engine = build_engine(url, settings)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        """The backend's name: sqlite or postgresql."""
        return self.engine.dialect.name

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A session; the caller commits, anything uncommitted is rolled back."""
        factory = self._write if write else self._read
        with factory() as session:
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
