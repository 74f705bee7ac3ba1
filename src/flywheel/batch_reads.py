"""Reads shared by the requests of one batch transaction.

A batch (several change decisions committed together) reads the same rows for every
request: the active policy, the windows, the risk model in service. Inside
`shared_reads(session)` such a read is made once and its answer reused until the block
ends; outside one, `remember` reads every time, so a single request sees exactly what it
saw before. Only reads that the batch's own writes cannot change may be shared.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")
_KEY = "flywheel.shared_reads"


@contextmanager
def shared_reads(session: Session) -> Iterator[dict[Hashable, Any]]:
    """Share remembered reads on this session until the block ends."""
    memo: dict[Hashable, Any] = {}
    session.info[_KEY] = memo
    try:
        yield memo
    finally:
        session.info.pop(_KEY, None)


def remember(session: Session, key: Hashable, read: Callable[[], T]) -> T:
    """read(), made once per shared_reads block (every time outside one)."""
    memo: dict[Hashable, Any] | None = session.info.get(_KEY)
    if memo is None:
        return read()
    if key not in memo:
        memo[key] = read()
    value: T = memo[key]
    return value


def sharing(session: Session) -> dict[Hashable, Any] | None:
    """The shared reads of the batch this session serves, or None outside one."""
    memo: dict[Hashable, Any] | None = session.info.get(_KEY)
    return memo
