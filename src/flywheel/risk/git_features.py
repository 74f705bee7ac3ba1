"""The 14 change metrics of Kamei et al. (TSE 2013) for the commits of a git repository.

Conventions, chosen to match the public just-in-time data in `shared/data/jit-changes`
(McIntosh & Kamei's qt/openstack extraction, as republished by the ISSTA'21 replication):

- `entropy` is the Shannon entropy in bits of the lines changed (added + deleted) per file,
  not normalised by log2(nf) (that data reaches 6.46 bits for 98 files).
- The experience and history counts include the change itself: a first commit has
  `exp` = `rexp` = `sexp` = 1, and `ndev`/`nuc` count its author and itself
  (that data has no 0 in these columns; first-time authors have `ndev` >= 2).
- `rexp` weights each of the author's changes by 1 / (1 + days before this change),
  as that data does (a weight of 1/(1 + years) cannot produce its values).
- `age` is the mean, over modified files that existed before, of the days since their last
  change; `lt` is the sum of their lines before the change (read from the parent's blobs).
- Merge commits are skipped; renames (`git log -M`) keep the file's history and count once,
  under the new path; binary files count as modified with 0 lines.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flywheel.risk.features import METRICS  # the one list of the 14 Kamei metrics
from flywheel.risk.git_log import (
    Commit,
    FileChange,
    LineCount,
    count_lines,
    iter_commits,
    line_counts,
    open_repo,
    resolve,
)

__all__ = ["METRICS", "change_metrics", "is_fix"]

DAY = 86_400
_NO_LINES = LineCount(added=0, deleted=0, binary=False)
# Mockus & Votta's defect keywords as Kamei et al. use them (bug, fix, defect, patch), as words:
# "fixture", "prefix", "debug" and "dispatch" do not count.
FIX_PATTERN = re.compile(
    r"\b(?:bugs?|bugfix(?:es)?|fix(?:es|ed|ing)?|hotfix(?:es)?|defects?|patch(?:es|ed|ing)?)\b",
    re.IGNORECASE,
)


def is_fix(message: str) -> bool:
    """Whether a commit message says the change fixes a bug."""
    return FIX_PATTERN.search(message) is not None


def subsystem_of(path: str) -> str:
    """The top-level directory of a path ("" for a file at the root)."""
    head, sep, _ = path.partition("/")
    return head if sep else ""


def directory_of(path: str) -> str:
    """The directory of a path ("" for a file at the root)."""
    return path.rpartition("/")[0]


def entropy(changed_lines: Iterable[int]) -> float:
    """Shannon entropy in bits of the changed lines per file (0 when nothing changed)."""
    counts = [count for count in changed_lines if count > 0]
    total = sum(counts)
    return max(0.0, -sum(c / total * math.log2(c / total) for c in counts)) if total else 0.0


@dataclass(slots=True)
class _FileHistory:
    """What is known about a file from the changes walked so far."""

    changes: set[int] = field(default_factory=set)
    authors: set[str] = field(default_factory=set)
    last_time: int = 0


@dataclass(slots=True)
class _History:
    """Per-file and per-author state built while walking the history oldest first."""

    files: dict[str, _FileHistory] = field(default_factory=dict)
    author_times: dict[str, array[float]] = field(default_factory=dict)
    author_subsystems: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    walked: int = 0

    def record(self, commit: Commit) -> None:
        """Add a commit to the history (after its metrics were taken)."""
        index = self.walked
        self.walked += 1
        for change in commit.files:
            state = self._moved_state(change)
            state.changes.add(index)
            state.authors.add(commit.author)
            state.last_time = max(state.last_time, commit.time)
        self.author_times.setdefault(commit.author, array("d")).append(float(commit.time))
        for subsystem in {subsystem_of(change.path) for change in commit.files}:
            self.author_subsystems.setdefault((commit.author, subsystem), set()).add(index)

    def _moved_state(self, change: FileChange) -> _FileHistory:
        """The state of a changed file, carried over from its old path when it was renamed."""
        state = self.files.setdefault(change.path, _FileHistory())
        if change.source != change.path and change.source in self.files:
            old = self.files.pop(change.source)
            state.changes |= old.changes
            state.authors |= old.authors
            state.last_time = max(state.last_time, old.last_time)
        return state


def _union_size(sets: list[set[int]] | list[set[str]]) -> int:
    """The size of the union of some sets (without copying when there is one)."""
    if len(sets) == 1:
        return len(sets[0])
    return len(set().union(*sets))


def _recent_experience(times: array[float] | None, now: int) -> float:
    """The author's changes before now weighted by 1 / (1 + days ago), plus 1 for this change."""
    if not times:
        return 1.0
    days = np.maximum(now - np.frombuffer(times, dtype=np.float64), 0.0) / DAY
    return 1.0 + float(np.sum(1.0 / (1.0 + days)))


def _history_metrics(history: _History, commit: Commit) -> dict[str, object]:
    """ndev, age, nuc, exp, rexp and sexp of a commit from the history before it."""
    known = [history.files[c.source] for c in commit.files if c.source in history.files]
    ages = [max(commit.time - state.last_time, 0) / DAY for state in known]
    subsystems = {subsystem_of(change.path) for change in commit.files}
    own = [history.author_subsystems.get((commit.author, name), set()) for name in subsystems]
    touched = 1 if commit.files else 0
    times = history.author_times.get(commit.author)
    return {
        "ndev": _union_size([*(state.authors for state in known), {commit.author}]) * touched,
        "age": sum(ages) / len(ages) if ages else 0.0,
        "nuc": (_union_size([state.changes for state in known]) if known else 0) + touched,
        "exp": (len(times) if times else 0) + 1,
        "rexp": _recent_experience(times, commit.time),
        "sexp": (_union_size(own) if own else 0) + touched,
    }


def _size_metrics(commit: Commit, lines: dict[str, LineCount]) -> dict[str, object]:
    """ns, nd, nf, entropy, la, ld and fix of a commit from the commit alone."""
    paths = [change.path for change in commit.files]
    counts = [lines.get(path, _NO_LINES) for path in paths]
    return {
        "ns": len({subsystem_of(path) for path in paths}),
        "nd": len({directory_of(path) for path in paths}),
        "nf": len(paths),
        "entropy": entropy(count.added + count.deleted for count in counts),
        "la": sum(count.added for count in counts),
        "ld": sum(count.deleted for count in counts),
        "fix": int(is_fix(commit.message)),
    }


def _measure(history: _History, commit: Commit, lines: dict[str, LineCount]) -> dict[str, object]:
    """The metrics of a commit except lt, which needs the old blobs' line counts."""
    row: dict[str, object] = {"_id": commit.sha, "date": commit.time, "author": commit.author}
    row.update(_size_metrics(commit, lines))
    row.update(_history_metrics(history, commit))
    return row


def _old_blobs(commit: Commit, lines: dict[str, LineCount]) -> list[str]:
    """The blobs of the commit's text files as they were before it (binary files have none)."""
    return [
        change.old_blob
        for change in commit.files
        if change.old_blob is not None and not lines.get(change.path, _NO_LINES).binary
    ]


def change_metrics(repo: str | Path, rev: str) -> list[dict[str, object]]:
    """The 14 Kamei et al. metrics of every commit in rev ("A..B" or one commit), oldest first."""
    path = open_repo(repo)
    selection = resolve(path, rev)
    sizes = line_counts(path, selection)
    history = _History()
    rows: list[tuple[dict[str, object], list[str]]] = []
    for commit in iter_commits(path, selection.tips):
        if (lines := sizes.get(commit.sha)) is not None:
            rows.append((_measure(history, commit, lines), _old_blobs(commit, lines)))
        history.record(commit)
    blob_lines = count_lines(path, (blob for _, blobs in rows for blob in blobs))
    return [_with_lt(row, blobs, blob_lines) for row, blobs in rows]


def _with_lt(row: dict[str, object], blobs: list[str], lines: dict[str, int]) -> dict[str, object]:
    """The row with lt set and its keys in the documented order."""
    lt = sum(lines.get(blob, 0) for blob in blobs)
    head = {key: row[key] for key in ("_id", "date", "author")}
    return head | {name: lt if name == "lt" else row[name] for name in METRICS}
