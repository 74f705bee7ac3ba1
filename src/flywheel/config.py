"""Settings read from FLYWHEEL_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Flywheel's runtime settings."""

    model_config = SettingsConfigDict(env_prefix="FLYWHEEL_", extra="ignore")

    home: Path = Field(default=Path(".flywheel"), description="Where local state lives.")
    database_url: str = Field(default="", description="SQLAlchemy URL; default SQLite in home.")
    secret_key: str = Field(default="", description="Key for signing; generated into home.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    sqlite_synchronous: str = "NORMAL"
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    db_pool_size: int = Field(default=10, ge=1)
    log_level: str = "info"
    warm_indexes: bool = Field(default=True, description="Load in-memory indexes at start.")
    work_database_url: str = Field(
        default="", description="Where durable work (deployment runs) keeps its state."
    )
    console_idle_minutes: int = Field(
        default=30, ge=1, le=24 * 60, description="Console sign-in ends after this long idle."
    )
    console_session_hours: int = Field(
        default=12, ge=1, le=24 * 30, description="Console sign-in ends this long after it began."
    )

    @field_validator("sqlite_synchronous")
    @classmethod
    def _check_synchronous(cls, value: str) -> str:
        allowed = {"OFF", "NORMAL", "FULL", "EXTRA"}
        if value.upper() not in allowed:
            raise ValueError(f"must be one of {sorted(allowed)}")
        return value.upper()

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to an SQLite file in home."""
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{(self.home / 'flywheel.db').resolve()}"

    def resolved_secret_key(self) -> str:
        """The secret key; generated once into home when not configured."""
        if self.secret_key:
            return self.secret_key
        key_file = self.home / "secret_key"
        if key_file.exists():
            return key_file.read_text().strip()
        import secrets

        self.home.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        key_file.write_text(key)
        key_file.chmod(0o600)
        return key


def normalize_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgres URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()
