"""Request and response models of escalation policies, contact methods and deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from flywheel.schemas import RequestModel, ResponseModel, Slug


class TargetIn(RequestModel):
    """Whom a step notifies: the on-call of a schedule, a user, or a team."""

    kind: Literal["schedule", "user", "team"]
    ref: str = Field(min_length=1, max_length=100, description="Schedule key, username, team key")


class StepIn(RequestModel):
    """Notify these targets, then wait before escalating to the next step."""

    targets: list[TargetIn] = Field(min_length=1, max_length=20)
    wait_minutes: float = Field(default=15, ge=0, le=24 * 60)


class PolicyFields(RequestModel):
    """What a policy says."""

    name: str = Field(min_length=1, max_length=200)
    services: list[str] = Field(default_factory=list, max_length=500)
    default: bool = Field(default=False, description="Used for services no policy names")
    repeat: int = Field(default=0, ge=0, le=20, description="Run the steps again this many times")
    steps: list[StepIn] = Field(min_length=1, max_length=20)

    @field_validator("services")
    @classmethod
    def _services(cls, value: list[str]) -> list[str]:
        cleaned = [s.strip() for s in value]
        if any(not s or len(s) > 200 for s in cleaned):
            raise ValueError("service keys are 1 to 200 characters")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("a service is named twice")
        return cleaned


class PolicyCreate(PolicyFields):
    """A new escalation policy."""

    key: Slug


class PolicyUpdate(PolicyFields):
    """A policy's next version, based on the version read."""

    version: int = Field(ge=1, description="The version you read; a stale one gets 409.")


class PolicyOut(ResponseModel):
    """An escalation policy."""

    key: str
    name: str
    services: list[str]
    default: bool = Field(validation_alias="is_default")
    repeat: int
    steps: list[dict[str, Any]]
    created_by: str
    created_at: datetime
    updated_at: datetime
    version: int


ChannelName = Literal["email", "slack", "webhook"]


class ContactIn(RequestModel):
    """A way to reach a user or a team."""

    channel: ChannelName
    address: str = Field(min_length=3, max_length=1000)
    label: str = Field(default="", max_length=100)
    secret: str | None = Field(
        default=None, min_length=8, max_length=200, description="HMAC key (webhook only)"
    )

    @model_validator(mode="after")
    def _address_fits_channel(self) -> ContactIn:
        if self.channel == "email":
            local, _, domain = self.address.partition("@")
            if not local or "." not in domain or " " in self.address:
                raise ValueError(f"'{self.address}' is not an e-mail address")
        elif not self.address.startswith(("http://", "https://")):
            raise ValueError(f"a {self.channel} address is an http(s) URL")
        if self.secret is not None and self.channel != "webhook":
            raise ValueError("only webhook contacts are signed with a secret")
        return self


class ContactOut(ResponseModel):
    """A contact method (its secret is never shown)."""

    id: int
    owner_kind: str
    owner: str
    channel: str
    address: str
    label: str
    signed: bool
    created_at: datetime
    created_by: str


class DeliveryOut(ResponseModel):
    """One notification to one contact, with its attempts."""

    id: int
    incident_id: int
    event: str
    recipient: str
    recipient_kind: str
    channel: str
    address: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    created_at: datetime
    updated_at: datetime


class EscalationOut(ResponseModel):
    """Where the paging of an incident stands."""

    incident_id: int
    state: str
    policy_key: str | None
    round: int
    step: int
    fired: int
    next_at: datetime | None
    notified: list[str]
