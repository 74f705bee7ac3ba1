"""The audit chain's hashing and verification, without a database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from flywheel.audit.chain import GENESIS_HASH, ChainRecord, digest, find_break, to_json_value

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def build_chain(length: int) -> list[ChainRecord]:
    chain: list[ChainRecord] = []
    prev = GENESIS_HASH
    for seq in range(1, length + 1):
        rec = ChainRecord(
            seq=seq,
            occurred_at=T0 + timedelta(seconds=seq),
            actor="alice",
            actor_user_id=7,
            action="team.update",
            object_type="team",
            object_id="payments",
            before={"name": f"v{seq - 1}"},
            after={"name": f"v{seq}"},
            reason=None,
            request_id=f"req-{seq}",
            prev_hash=prev,
        )
        rec = replace(rec, hash=digest(rec))
        chain.append(rec)
        prev = rec.hash
    return chain


def check(chain: list[ChainRecord], head: ChainRecord | None = None):
    last = head or chain[-1]
    return find_break(chain, head_seq=last.seq, head_hash=last.hash)


def test_an_untouched_chain_is_intact() -> None:
    report = check(build_chain(5))
    assert report.intact
    assert report.events_checked == 5


def test_an_empty_chain_with_genesis_head_is_intact() -> None:
    assert find_break([], head_seq=0, head_hash=GENESIS_HASH).intact


def test_digest_depends_on_every_field() -> None:
    rec = build_chain(1)[0]
    variants = [
        replace(rec, actor="mallory"),
        replace(rec, after={"name": "other"}),
        replace(rec, occurred_at=rec.occurred_at + timedelta(microseconds=1)),
        replace(rec, reason="because"),
        replace(rec, prev_hash="f" * 64),
        replace(rec, object_id="other"),
    ]
    assert len({digest(v) for v in variants} | {digest(rec)}) == len(variants) + 1


def test_an_edited_event_is_named() -> None:
    chain = build_chain(5)
    chain[2] = replace(chain[2], after={"name": "forged"})
    report = check(chain)
    assert report.first_break is not None
    assert report.first_break.seq == 3
    assert "edited" in report.first_break.problem


def test_a_deleted_event_is_detected_at_the_gap() -> None:
    chain = build_chain(5)
    del chain[1]
    report = check(chain)
    assert report.first_break is not None
    assert report.first_break.seq == 3
    assert "missing" in report.first_break.problem


def test_reordered_events_are_detected() -> None:
    chain = build_chain(5)
    a, b = chain[1], chain[3]
    chain[1], chain[3] = replace(b, seq=2), replace(a, seq=4)
    report = check(chain, head=build_chain(5)[-1])
    assert report.first_break is not None
    assert report.first_break.seq == 2


def test_deleting_the_newest_events_is_caught_by_the_head() -> None:
    full = build_chain(5)
    report = check(full[:3], head=full[-1])
    assert report.first_break is not None
    assert "deleted from the end" in report.first_break.problem


def test_summaries_are_normalised_to_json() -> None:
    value = to_json_value({"when": T0, "n": 1, "nested": {"b": 2, "a": [1, 2]}})
    assert value == {"when": str(T0), "n": 1, "nested": {"a": [1, 2], "b": 2}}
    assert to_json_value(None) is None
