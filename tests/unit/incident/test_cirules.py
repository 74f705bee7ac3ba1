"""Label → CI key rules and the normalisation of incoming alerts, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flywheel.errors import InvalidInput
from flywheel.incident.cirules import DEFAULT_RULES, candidates, parse_rules
from flywheel.incident.directory import CIInfo, assign
from flywheel.incident.incoming import (
    AlertStatus,
    Incoming,
    deduplicate,
    derive_fingerprint,
    normalise,
    urgency_of,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def alert(labels: dict[str, str], **fields: object) -> Incoming:
    values: dict[str, object] = {
        "status": AlertStatus.FIRING,
        "labels": labels,
        "annotations": {},
        "starts_at": NOW - timedelta(minutes=1),
        "ends_at": None,
        "fingerprint": None,
        "severity": None,
        "generator_url": None,
        "rules": parse_rules(DEFAULT_RULES),
        "now": NOW,
    }
    values.update(fields)
    return normalise(**values)  # type: ignore[arg-type]


def test_rules_try_templates_in_order_and_skip_missing_labels() -> None:
    rules = parse_rules(
        [{"template": "{instance}", "pattern": r"^([^:]+)"}, {"template": "{service}-pool"}]
    )
    assert candidates(rules, {"instance": "web1:9100", "service": "checkout"}) == [
        "web1",
        "checkout-pool",
    ]
    assert candidates(rules, {"service": "checkout"}) == ["checkout-pool"]
    assert candidates(rules, {"job": "node"}) == []


def test_a_pattern_that_does_not_match_skips_the_rule() -> None:
    rules = parse_rules([{"template": "{instance}", "pattern": r"^(web\d+)"}])
    assert candidates(rules, {"instance": "db1:5432"}) == []


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ({"template": ""}, "non-empty"),
        ({"template": "static"}, "names no label"),
        ({"template": "{service.__class__}"}, "plain label name"),
        ({"template": "{service!r}"}, "plain label name"),
        ({"template": "{service"}, "malformed"),
        ({"template": "{service}", "pattern": "("}, "not a regular expression"),
        ({"template": "{service}", "pattern": "(a)(b)"}, "at most one group"),
    ],
)
def test_bad_rules_are_refused_naming_the_rule(rule: dict[str, str], problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem) as caught:
        parse_rules([{"template": "{ci}"}, rule])
    assert "ci_rules[1]" in caught.value.message


def test_fingerprint_is_derived_from_labels_independent_of_order() -> None:
    first = derive_fingerprint({"alertname": "A", "instance": "x"})
    assert first == derive_fingerprint({"instance": "x", "alertname": "A"})
    assert first != derive_fingerprint({"alertname": "A", "instance": "y"})
    assert alert({"alertname": "A", "instance": "x"}).fingerprint == first


def test_severity_gives_urgency_with_medium_for_unknown() -> None:
    assert [urgency_of(s) for s in ("critical", "Warning", "info", "", "weird")] == [1, 2, 3, 2, 2]
    assert alert({"alertname": "A", "severity": "critical"}).urgency == 1
    assert alert({"alertname": "A", "severity": "critical"}, severity="info").urgency == 3


def test_future_start_is_set_to_the_receive_time_and_flagged() -> None:
    late = alert({"alertname": "A"}, starts_at=NOW + timedelta(hours=2))
    assert late.starts_at == NOW
    assert late.flags == ["starts_at_in_future"]
    slightly = alert({"alertname": "A"}, starts_at=NOW + timedelta(minutes=2))
    assert slightly.starts_at == NOW + timedelta(minutes=2)
    assert slightly.flags == []


def test_alertmanager_zero_end_means_no_end() -> None:
    zero = datetime(1, 1, 1, tzinfo=UTC)
    assert alert({"alertname": "A"}, ends_at=zero).ends_at is None


def test_a_resolved_alert_ending_in_the_future_ends_now() -> None:
    done = alert({"alertname": "A"}, status=AlertStatus.RESOLVED, ends_at=NOW + timedelta(days=1))
    assert (done.ends_at, done.flags) == (NOW, ["ends_at_in_future"])


def test_deduplicate_keeps_the_last_and_counts_all() -> None:
    first = alert({"alertname": "A"}, fingerprint="f1")
    again = alert({"alertname": "A"}, fingerprint="f1", status=AlertStatus.RESOLVED)
    other = alert({"alertname": "B"}, fingerprint="f2")
    kept = deduplicate([first, other, again])
    assert [(a.fingerprint, a.status, a.received) for a in kept] == [
        ("f2", AlertStatus.FIRING, 1),
        ("f1", AlertStatus.RESOLVED, 2),
    ]


def test_assign_prefers_the_first_known_candidate_and_its_business_service() -> None:
    known = {"web1": CIInfo("web1", "checkout"), "search": CIInfo("search", "search")}
    found = alert({"alertname": "A", "instance": "web1:9100", "service": "search"})
    assign([found], known)
    assert (found.ci_key, found.ci_unknown, found.group_key) == ("web1", False, "checkout")
    assert found.service_known


def test_assign_keeps_unknown_cis_flagged_and_groups_by_service_label_or_alertname() -> None:
    labelled = alert({"alertname": "A", "instance": "ghost:1", "service": "shop"})
    bare = alert({"alertname": "DiskFull"})
    assign([labelled, bare], {})
    assert (labelled.ci_key, labelled.ci_unknown, labelled.group_key) == ("ghost", True, "shop")
    assert "ci_unknown" in labelled.flags
    assert (bare.ci_key, bare.group_key) == (None, "DiskFull")


def test_a_known_ci_without_business_service_groups_by_label_then_itself() -> None:
    lonely = alert({"alertname": "A", "ci": "host9"})
    labelled = alert({"alertname": "A", "ci": "host9", "service": "infra"})
    assign([lonely, labelled], {"host9": CIInfo("host9", None)})
    assert (lonely.group_key, labelled.group_key) == ("host9", "infra")
    assert not lonely.service_known
