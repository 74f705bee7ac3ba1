"""Per-request context that flows into the audit trail."""

from __future__ import annotations

import itertools
import os
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("flywheel_request_id", default=None)

# A random per-process prefix and a counter: unique like a uuid4 (32 hex digits) at a tenth
# of its cost, which every request pays. A forked child draws its own prefix.
_prefix = os.urandom(8).hex()
_counter = itertools.count(1)


def _reseed() -> None:
    global _prefix, _counter
    _prefix, _counter = os.urandom(8).hex(), itertools.count(1)


os.register_at_fork(after_in_child=_reseed)


def new_request_id() -> str:
    """A fresh request id, unique across processes and restarts."""
    return f"{_prefix}{next(_counter):016x}"


def current_request_id() -> str | None:
    """The id of the request (or CLI command) being served, if any."""
    return request_id_var.get()
