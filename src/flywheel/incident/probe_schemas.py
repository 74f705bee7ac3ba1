"""Request and response bodies of the probes API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, HttpUrl, field_validator, model_validator

from flywheel.errors import InvalidInput
from flywheel.incident.probe_check import parse_status
from flywheel.schemas import RequestModel, ResponseModel, Slug, VersionedUpdate

Method = Literal["GET", "HEAD"]


def _status(value: str) -> str:
    try:
        parse_status(value)
    except InvalidInput as exc:  # a ValueError becomes a 422 naming the field
        raise ValueError(exc.message) from exc
    return value.replace(" ", "")


class _Checked(RequestModel):
    @field_validator("expected_status", check_fields=False)
    @classmethod
    def _valid_status(cls, value: str | None) -> str | None:
        return None if value is None else _status(value)

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> _Checked:
        interval = getattr(self, "interval_s", None)
        timeout = getattr(self, "timeout_s", None)
        if interval is not None and timeout is not None and timeout >= interval:
            raise ValueError("timeout_s must be shorter than interval_s")
        return self


class ProbeCreate(_Checked):
    """A new HTTP probe of a configuration item."""

    name: Slug
    ci_key: str = Field(min_length=1, max_length=200)
    url: HttpUrl
    method: Method = "GET"
    interval_s: int = Field(default=60, ge=5, le=86_400)
    timeout_s: float = Field(default=5.0, gt=0, le=120)
    expected_status: str = Field(default="200-399", min_length=3, max_length=100)
    body_contains: str | None = Field(default=None, min_length=1, max_length=500)
    enabled: bool = True
    failures_to_alert: int = Field(default=1, ge=1, le=100)
    severity: Literal["critical", "error", "warning", "info"] = "critical"


class ProbeUpdate(VersionedUpdate, _Checked):
    """Changed fields of a probe (send the version you read)."""

    url: HttpUrl | None = None
    method: Method | None = None
    interval_s: int | None = Field(default=None, ge=5, le=86_400)
    timeout_s: float | None = Field(default=None, gt=0, le=120)
    expected_status: str | None = Field(default=None, min_length=3, max_length=100)
    body_contains: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None
    failures_to_alert: int | None = Field(default=None, ge=1, le=100)
    severity: Literal["critical", "error", "warning", "info"] | None = None


class ProbeOut(ResponseModel):
    """A probe and its current state."""

    id: int
    name: str
    ci_key: str
    url: str
    method: str
    interval_s: int
    timeout_s: float
    expected_status: str
    body_contains: str | None
    enabled: bool
    failures_to_alert: int
    severity: str
    next_run_at: datetime
    consecutive_failures: int
    alerting: bool
    last_run_at: datetime | None
    last_ok: bool | None
    created_by: str
    version: int


class ProbeRunOut(ResponseModel):
    """One recorded run of a probe."""

    probe: str = ""
    at: datetime
    ok: bool
    status_code: int | None
    latency_ms: float | None
    error: str | None


class ProbeDetail(ProbeOut):
    """A probe with its latest runs, newest first."""

    recent: list[ProbeRunOut]
    availability: float | None = Field(description="Share of passing runs among `recent`.")


class RunDueOut(ResponseModel):
    """What one pass of the scheduler ran."""

    ran: list[ProbeRunOut]
