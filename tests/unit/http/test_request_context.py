"""Request ids: unique, uuid-shaped, and distinct in a forked worker."""

from __future__ import annotations

import multiprocessing
import re

from flywheel.context import new_request_id


def _child_id(queue: multiprocessing.Queue[str]) -> None:
    queue.put(new_request_id())


def test_ids_are_unique_32_hex_digits() -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_a_forked_process_draws_its_own_ids() -> None:
    ctx = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[str] = ctx.Queue()
    child = ctx.Process(target=_child_id, args=(queue,))
    child.start()
    theirs = queue.get(timeout=30)
    child.join(timeout=30)
    ours = new_request_id()
    assert theirs[:16] != ours[:16]  # not the parent's prefix: counters could collide
