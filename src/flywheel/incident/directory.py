"""Which CI an alert is about, the business service it serves, and an incident's impact.

Everything here asks the CMDB through `flywheel.cmdb.service`. Alert storms repeat the
same few hundred CI keys, so what a key resolves to (including "no such CI") is kept
for a short time (`incident_ci_cache_seconds`) per database: a CI added to the CMDB is
recognised by new alerts within that time.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from flywheel.cmdb import service as cmdb
from flywheel.errors import NotFound
from flywheel.incident import severity
from flywheel.incident.incoming import Incoming

BUSINESS_SERVICE = "business_service"
MAX_ENTRIES = 200_000
GROUP_KEY_LENGTH = 200


@dataclass(frozen=True)
class CIInfo:
    """A CI that exists, the business service its failure hurts most (if any), criticality."""

    key: str
    service: str | None
    criticality: int = 3


class CIDirectory:
    """CI look-ups for one database, remembered for `ttl` seconds."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, CIInfo | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, session: Session, keys: set[str]) -> dict[str, CIInfo]:
        """The known CIs among the keys."""
        now = time.monotonic()
        found: dict[str, CIInfo] = {}
        missing: list[str] = []
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                if entry is None or now - entry[0] > self.ttl:
                    missing.append(key)
                elif entry[1] is not None:
                    found[key] = entry[1]
        if missing:
            fresh = _resolve(session, missing)
            with self._lock:
                if len(self._entries) > MAX_ENTRIES:
                    self._entries.clear()
                for key in missing:
                    self._entries[key] = (now, fresh.get(key))
            found.update(fresh)
        return found


def _resolve(session: Session, keys: list[str]) -> dict[str, CIInfo]:
    infos = {}
    for ci in cmdb.find_cis(session, keys=keys):
        service: str | None = ci.key
        if ci.type != BUSINESS_SERVICE:
            hit = cmdb.impact(session, keys=[ci.key], top_tenants=0).business_services
            service = hit[0].key if hit else None
        infos[ci.key] = CIInfo(ci.key, service, ci.criticality)
    return infos


_directories: weakref.WeakKeyDictionary[Pool, CIDirectory] = weakref.WeakKeyDictionary()
_directories_lock = threading.Lock()


def directory_for(session: Session, ttl: float) -> CIDirectory:
    """The directory of the session's database (one per connection pool)."""
    pool = session.get_bind().pool  # type: ignore[union-attr]
    with _directories_lock:
        directory = _directories.get(pool)
        if directory is None or directory.ttl != ttl:
            directory = _directories[pool] = CIDirectory(ttl)
        return directory


def assign(alerts: list[Incoming], known: dict[str, CIInfo]) -> None:
    """Fill in each alert's CI, whether it is known, and the service it groups under.

    The CI is the first rule candidate the CMDB knows; the group is that CI's business
    service, else the `service` label, else the known CI itself, else the alert name.
    Alerts whose candidates are all unknown keep the first as text, flagged.
    """
    for alert in alerts:
        info = next((known[k] for k in alert.candidates if k in known), None)
        label = alert.labels.get("service", "").strip()
        if info is not None:
            alert.ci_key, alert.ci_unknown = info.key, False
            alert.service_known = info.service is not None
            group = info.service or label or info.key
        else:
            alert.ci_key = alert.candidates[0] if alert.candidates else None
            alert.ci_unknown = True
            if "ci_unknown" not in alert.flags:
                alert.flags.append("ci_unknown")
            group = label or alert.alertname
        alert.group_key = group[:GROUP_KEY_LENGTH]


def evaluate_impact(
    session: Session, directory: CIDirectory, ci_keys: list[str]
) -> tuple[int, dict[str, Any]]:
    """The impact level of these CIs failing together, and what to show about it."""
    known = directory.lookup(session, set(ci_keys))
    existing = sorted(known)
    if not existing:
        return severity.UNKNOWN_IMPACT, {"summary": "no known configuration item", "known": False}
    try:
        report = cmdb.impact(session, keys=existing, top_tenants=5)
    except NotFound:  # removed from the CMDB since it was looked up
        return severity.UNKNOWN_IMPACT, {"summary": "configuration items changed", "known": False}
    services = report.business_services
    criticality = directory.lookup(session, {s.key for s in services})
    hits = [
        severity.ServiceHit(
            s.key, s.status, criticality[s.key].criticality if s.key in criticality else 3
        )
        for s in services
    ]
    level = severity.impact_level(hits, report.tenants_affected)
    return level, {
        "known": True,
        "level": severity.LEVEL_NAMES[level],
        "summary": report.summary,
        "services": [
            {"key": h.key, "status": h.status, "criticality": h.criticality} for h in hits
        ],
        "tenants_affected": report.tenants_affected,
        "top_tenants": [t.key for t in report.top_tenants],
        "cis": existing,
    }
