"""Remembering an expensive overview figure for a short while, per database engine."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

_lock = threading.Lock()
# Per engine, so two apps (or two tests) on different databases never share a figure.
_kept: weakref.WeakKeyDictionary[Engine, dict[str, tuple[float, Any]]] = weakref.WeakKeyDictionary()


def remembered(session: Session, name: str, seconds: float, make: Callable[[], Any]) -> Any:
    """`make()`'s value, made again only when the one kept for this database is too old."""
    engine, now = session.get_bind().engine, time.monotonic()
    with _lock:
        found = _kept.get(engine, {}).get(name)
    if found is not None and now - found[0] < seconds:
        return found[1]
    value = make()
    with _lock:
        _kept.setdefault(engine, {})[name] = (now, value)
    return value


def forget() -> None:
    """Drop everything kept."""
    with _lock:
        _kept.clear()
