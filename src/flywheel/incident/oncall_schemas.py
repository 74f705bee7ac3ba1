"""Request and response models of on-call schedules."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from flywheel.schemas import RequestModel, ResponseModel, Slug

Username = str


class ScheduleCreate(RequestModel):
    """A rotation: members taking turns, handing off at a local time in a time zone."""

    key: Slug
    name: str = Field(min_length=1, max_length=200)
    time_zone: str = Field(min_length=1, max_length=64, examples=["Europe/Berlin"])
    start_date: date = Field(description="The day of the first handoff")
    handoff: str = Field(
        default="09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Local HH:MM"
    )
    rotation: Literal["daily", "weekly", "custom"] = "weekly"
    shift_hours: int | None = Field(
        default=None, ge=1, le=24 * 366, description="Shift length (custom rotations only)"
    )
    members: list[Username] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _length_fits_rotation(self) -> ScheduleCreate:
        if (self.rotation == "custom") != (self.shift_hours is not None):
            raise ValueError("shift_hours is given for custom rotations, and only for them")
        return self


class ScheduleOut(ResponseModel):
    """An on-call schedule."""

    id: int
    key: str
    name: str
    time_zone: str
    start_date: date
    handoff: str
    shift_hours: int
    members: list[str]
    created_at: datetime
    created_by: str
    version: int


class OverrideIn(RequestModel):
    """Someone covers [starts_at, ends_at) of a schedule."""

    username: Username = Field(min_length=1, max_length=100)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: str = Field(default="", max_length=500)


class OverrideOut(ResponseModel):
    """An override of a schedule."""

    id: int
    username: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str


class ShiftOut(ResponseModel):
    """Who is on call over a period, and whether an override put them there."""

    username: str
    starts_at: datetime
    ends_at: datetime
    override: bool


class ScheduleDetail(ScheduleOut):
    """A schedule with its current and coming overrides and its shifts over a period."""

    overrides: list[OverrideOut]
    shifts: list[ShiftOut]


class WhoOut(ResponseModel):
    """Who is on call on a schedule at an instant (nobody before its first handoff)."""

    schedule: str
    at: datetime
    on_call: ShiftOut | None
