"""Stored risk models: train, keep as candidates, promote after comparing, load the active one."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.db import utcnow
from flywheel.errors import Conflict, InvalidInput, NotFound
from flywheel.risk.models import RiskModel

MIN_CHANGES = 200
MIN_FAILURES = 20
# A candidate may trail the model in service by this much held-out AUC and still be promoted.
PROMOTION_TOLERANCE = 0.01

_cache: dict[str, Any] = {}
_cache_lock = threading.Lock()


def _trained(version: str, blob: bytes) -> Any:
    from flywheel.risk.model import TrainedModel  # scikit-learn is slow to import

    with _cache_lock:
        if version not in _cache:
            _cache[version] = TrainedModel.from_bytes(blob)
        return _cache[version]


def active_model(session: Session) -> Any | None:
    """The model in service (a flywheel.risk.model.TrainedModel), or None: rules apply."""
    row = session.execute(
        select(RiskModel.version, RiskModel.blob).where(RiskModel.status == "active")
    ).first()
    return None if row is None else _trained(row.version, row.blob)


def list_models(session: Session) -> list[RiskModel]:
    """Stored models, newest first."""
    return list(session.scalars(select(RiskModel).order_by(RiskModel.id.desc())))


def train_and_store(
    session: Session,
    *,
    actor: Actor,
    rows: Sequence[Mapping[str, object]],
    labels: Sequence[int],
    dates: Sequence[float] | None,
    source: str,
) -> RiskModel:
    """Train on labelled changes and keep the result as a candidate."""
    failures = sum(1 for y in labels if y)
    if len(labels) < MIN_CHANGES or failures < MIN_FAILURES:
        raise InvalidInput(
            f"not enough labelled history to train ({len(labels)} changes, {failures} failed; "
            f"need {MIN_CHANGES} and {MIN_FAILURES}): the rule-based score stays in force"
        )
    from flywheel.risk.model import train

    model = train(rows, labels, dates=dates)
    if session.scalar(select(RiskModel.id).where(RiskModel.version == model.version)):
        raise Conflict(f"model {model.version} is already stored (same data, same model)")
    row = RiskModel(
        version=model.version,
        status="candidate",
        source=source[:300],
        model_metadata=model.metadata,
        blob=model.to_bytes(),
        created_by=actor.name,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="risk.model.train",
        object_type="risk_model",
        object_id=row.version,
        after={"source": row.source, "metrics": model.metadata.get("metrics")},
    )
    return row


def _holdout_auc(row: RiskModel) -> float | None:
    metrics = row.model_metadata.get("metrics") or {}
    value = metrics.get("holdout_auc") if isinstance(metrics, dict) else None
    return float(value) if value is not None else None


def promote(session: Session, *, actor: Actor, version: str, force: bool = False) -> RiskModel:
    """Put a candidate in service if its held-out AUC is not worse than the current one's."""
    row = session.scalar(select(RiskModel).where(RiskModel.version == version).with_for_update())
    if row is None:
        raise NotFound(f"no risk model {version}")
    if row.status == "active":
        return row
    current = session.scalar(select(RiskModel).where(RiskModel.status == "active"))
    mine, theirs = _holdout_auc(row), _holdout_auc(current) if current else None
    worse = mine is not None and theirs is not None and mine < theirs - PROMOTION_TOLERANCE
    if current and worse and not force:
        raise Conflict(
            f"{version} is worse on held-out data (AUC {mine:.3f}) than {current.version} "
            f"in service ({theirs:.3f}); use force to promote anyway"
        )
    if current is not None:
        current.status = "retired"
    row.status, row.promoted_at = "active", utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="risk.model.promote",
        object_type="risk_model",
        object_id=version,
        before={"active": current.version if current else None, "holdout_auc": theirs},
        after={"active": version, "holdout_auc": mine, "forced": force},
    )
    return row
