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
    encryption_keys: str = Field(
        default="", description="Fernet keys for secrets at rest, comma-separated, newest first."
    )
    oidc_issuer: str = Field(default="", description="OpenID Connect issuer URL; enables SSO.")
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scopes: str = "openid email profile groups"
    oidc_groups_claim: str = Field(default="groups", description="Claim listing the groups.")
    oidc_role_map: dict[str, list[str]] = Field(
        default_factory=dict, description='JSON: {"group": ["role", …]}'
    )
    oidc_team_map: dict[str, list[str]] = Field(
        default_factory=dict, description='JSON: {"group": ["team-key", …]}'
    )
    oidc_label: str = Field(default="single sign-on", description="The console's SSO button.")
    oidc_redirect_uri: str = Field(default="", description="Callback URL behind a proxy.")
    oidc_timeout_s: float = Field(default=5.0, gt=0, le=60)
    rate_limit_enabled: bool = Field(default=True, description="Answer 429 over the limits.")
    rate_limit_per_s: float = Field(
        default=1000.0, gt=0, description="Requests/s per API token or console session."
    )
    rate_limit_burst: int = Field(default=2000, ge=1)
    rate_limit_anonymous_per_s: float = Field(
        default=20.0, gt=0, description="Requests/s per client address without a token."
    )
    rate_limit_anonymous_burst: int = Field(default=60, ge=1)
    sqlite_synchronous: str = "NORMAL"
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    db_pool_size: int = Field(default=10, ge=1)
    log_level: str = "info"
    log_format: str = Field(default="text", pattern="^(text|json)$", description="text or json")
    warm_indexes: bool = Field(default=True, description="Load in-memory indexes at start.")
    work_database_url: str = Field(
        default="", description="Where durable work (deployment runs) keeps its state."
    )
    incident_group_window_seconds: int = Field(
        default=3600,
        ge=0,
        description="Alerts join a service's open incident active this recently.",
    )
    incident_reopen_window_seconds: int = Field(
        default=1800, ge=0, description="A firing alert reopens an incident resolved this recently."
    )
    incident_resolve_when: str = Field(
        default="all", description="Which alert resolutions resolve an incident: all, first, last."
    )
    incident_flap_flips: int = Field(
        default=6, ge=2, description="Status flips that mean flapping."
    )
    incident_flap_window_seconds: int = Field(default=1800, ge=1)
    incident_ci_cache_seconds: float = Field(
        default=30.0, ge=0, description="How long alert intake remembers a CI look-up."
    )
    probe_worker: bool = Field(
        default=False, description="Run due HTTP probes inside `flywheel serve` as well."
    )
    probe_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often a probe worker looks for due probes."
    )
    probe_concurrency: int = Field(
        default=8, ge=1, le=64, description="Probes a worker runs at once."
    )
    autorollback_enabled: bool = Field(
        default=False,
        description="Roll back an incident's top suspect by policy for services with no policy.",
    )
    autorollback_min_score: float = Field(default=0.6, ge=0, le=1)
    autorollback_window_minutes: int = Field(default=30, ge=1, le=24 * 60)
    autorollback_environments: str = Field(
        default="production", description="Comma-separated environments rolled back by policy."
    )
    autorollback_max_distance: int = Field(
        default=1, ge=0, le=10, description="0: the failing service only; 1: and what it needs."
    )
    prometheus_url: str = Field(
        default="", description="Prometheus to query for SLIs of source 'prometheus'."
    )
    prometheus_timeout_s: float = Field(default=2.0, gt=0, le=60)
    slo_alert_minutes: int = Field(
        default=1, ge=0, le=60, description="Evaluate burn-rate alerts this often; 0 = on request."
    )
    metrics_public: bool = Field(
        default=False, description="Serve /metrics without a token (a private network)."
    )
    problem_quiet_period_days: float = Field(
        default=14,
        ge=0,
        description="A resolved problem closes after this long with no recurrence.",
    )
    problem_worker_seconds: float = Field(
        default=30,
        ge=0,
        description="How often backlog webhooks and fix verification run (0: off).",
    )
    public_url: str = Field(
        default="", description="The URL people reach Flywheel at (links in notifications)."
    )
    notify_worker_interval_s: float = Field(
        default=2.0, ge=0, description="How often escalations and deliveries are worked; 0: off."
    )
    notify_timeout_s: float = Field(default=5.0, gt=0, le=60)
    notify_retry_base_s: float = Field(default=10.0, gt=0, description="First retry delay.")
    notify_retry_cap_s: float = Field(default=900.0, gt=0)
    notify_max_attempts: int = Field(default=6, ge=1, le=50)
    ack_link_hours: int = Field(default=24, ge=1, le=24 * 14)
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_sender: str = "flywheel@localhost"
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: str = ""
    console_idle_minutes: int = Field(
        default=30, ge=1, le=24 * 60, description="Console sign-in ends after this long idle."
    )
    console_session_hours: int = Field(
        default=12, ge=1, le=24 * 30, description="Console sign-in ends this long after it began."
    )
    role: str = Field(
        default="all",
        pattern="^(all|api|worker)$",
        description="all: API and background work; api: requests only; worker: background only.",
    )
    worker_name: str = Field(
        default="", max_length=200, description="A stable executor id (default: host:pid:random)."
    )
    worker_heartbeat_s: float = Field(
        default=5.0, gt=0, le=300, description="How often a process says it is alive."
    )
    token_cache_seconds: float = Field(
        default=0.0,
        ge=0,
        le=60,
        description="Cache checked API tokens this long per process (0: off); another "
        "process may then accept a revoked token for this long.",
    )
    worker_dead_after_s: float = Field(
        default=30.0, gt=0, le=3600, description="Silence after which a peer recovers its work."
    )
    oidc_post_logout_redirect_uri: str = Field(
        default="", description="Where the provider sends the browser after signing out there."
    )

    @field_validator("sqlite_synchronous")
    @classmethod
    def _check_synchronous(cls, value: str) -> str:
        allowed = {"OFF", "NORMAL", "FULL", "EXTRA"}
        if value.upper() not in allowed:
            raise ValueError(f"must be one of {sorted(allowed)}")
        return value.upper()

    @field_validator("incident_resolve_when")
    @classmethod
    def _check_resolve_when(cls, value: str) -> str:
        if value.lower() not in {"all", "first", "last"}:
            raise ValueError("must be one of all, first, last")
        return value.lower()

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
