"""Hashing and verifying the audit chain: pure functions, no I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class ChainRecord:
    """The hashed content of one audit event."""

    seq: int
    occurred_at: datetime
    actor: str
    actor_user_id: int | None
    action: str
    object_type: str
    object_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    request_id: str | None
    prev_hash: str
    hash: str = ""


@dataclass(frozen=True)
class ChainBreak:
    """The first place where the stored chain disagrees with itself."""

    seq: int
    problem: str

    def __str__(self) -> str:
        return f"audit event #{self.seq}: {self.problem}"


@dataclass(frozen=True)
class ChainReport:
    """The outcome of verifying the chain."""

    events_checked: int
    head_seq: int
    first_break: ChainBreak | None

    @property
    def intact(self) -> bool:
        """Whether no break was found."""
        return self.first_break is None


def to_json_value(value: Any) -> Any:
    """Normalise a summary to plain JSON values, exactly as it will be stored."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def digest(record: ChainRecord) -> str:
    """The SHA-256 of an event's content and its predecessor's hash."""
    payload = [
        record.seq,
        _timestamp(record.occurred_at),
        record.actor,
        record.actor_user_id,
        record.action,
        record.object_type,
        record.object_id,
        record.before,
        record.after,
        record.reason,
        record.request_id,
        record.prev_hash,
    ]
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def find_break(records: Iterable[ChainRecord], *, head_seq: int, head_hash: str) -> ChainReport:
    """Walk the records in stored order and report the first inconsistency."""
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    for record in records:
        checked += 1
        problem = _problem_with(record, expected_seq, prev_hash)
        if problem:
            return ChainReport(checked, head_seq, ChainBreak(record.seq, problem))
        expected_seq, prev_hash = record.seq + 1, record.hash
    last_seq = expected_seq - 1
    if last_seq != head_seq or prev_hash != head_hash:
        problem = (
            f"chain ends at #{last_seq} but the recorded head is #{head_seq}: "
            "events were deleted from the end or the head was altered"
        )
        return ChainReport(checked, head_seq, ChainBreak(max(last_seq, head_seq), problem))
    return ChainReport(checked, head_seq, None)


def _problem_with(record: ChainRecord, expected_seq: int, prev_hash: str) -> str | None:
    if record.seq != expected_seq:
        return f"expected event #{expected_seq} next but found #{record.seq}: events missing"
    if record.prev_hash != prev_hash:
        return "its previous-hash link does not match the event before it (deleted or reordered)"
    if digest(record) != record.hash:
        return "its content does not match its hash (the row was edited)"
    return None
