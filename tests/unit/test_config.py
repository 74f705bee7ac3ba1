"""Settings from FLYWHEEL_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from flywheel.config import Settings, normalize_database_url


def test_default_database_is_sqlite_in_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FLYWHEEL_DATABASE_URL", raising=False)
    monkeypatch.setenv("FLYWHEEL_HOME", str(tmp_path))
    url = Settings().resolved_database_url
    assert url == f"sqlite:///{tmp_path.resolve()}/flywheel.db"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYWHEEL_DATABASE_URL", "postgresql://u@h:5432/db")
    monkeypatch.setenv("FLYWHEEL_PORT", "9000")
    cfg = Settings()
    assert cfg.resolved_database_url == "postgresql+psycopg://u@h:5432/db"
    assert cfg.port == 9000


def test_invalid_settings_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYWHEEL_PORT", "99999")
    with pytest.raises(ValidationError, match="port"):
        Settings()
    monkeypatch.delenv("FLYWHEEL_PORT")
    monkeypatch.setenv("FLYWHEEL_SQLITE_SYNCHRONOUS", "sometimes")
    with pytest.raises(ValidationError, match="sqlite_synchronous"):
        Settings()


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    cfg = Settings(home=tmp_path, secret_key="")
    key = cfg.resolved_secret_key()
    assert len(key) > 40
    assert Settings(home=tmp_path, secret_key="").resolved_secret_key() == key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_postgres_urls_use_psycopg() -> None:
    assert normalize_database_url("postgres://x/y") == "postgresql+psycopg://x/y"
    assert normalize_database_url("sqlite:///a.db") == "sqlite:///a.db"
