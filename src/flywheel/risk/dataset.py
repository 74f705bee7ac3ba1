"""Reading labelled change data (CSV with Kamei metric columns) for training and evaluation."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from flywheel.errors import InvalidInput
from flywheel.risk.features import METRICS, Matrix, Vector, canonical
from flywheel.risk.learners import Labels

DEFAULT_LABEL = "bug"
ID_COLUMN = "_id"
DATE_COLUMN = "date"
MISSING_CELLS = {"", "na", "n/a", "nan", "null", "none", "?"}
TRUE_CELLS = {"1", "1.0", "true", "yes"}
FALSE_CELLS = {"0", "0.0", "false", "no"}
_INDEX_COLUMN = re.compile(r"^(|__|unnamed: ?\d+)$", re.IGNORECASE)  # row numbers, `__`


@dataclass(frozen=True)
class ChangeTable:
    """Changes read from a file: metrics (NaN = missing), labels, and dates/ids if present."""

    source: str
    metrics: tuple[str, ...]
    x: Matrix
    labels: Labels
    dates: Vector | None
    ids: tuple[str, ...] | None
    ignored_columns: tuple[str, ...]
    missing_metrics: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.labels.size)

    def take(self, index: NDArray[np.intp]) -> ChangeTable:
        """The rows at `index`, in that order."""
        return replace(
            self,
            x=self.x[index],
            labels=self.labels[index],
            dates=None if self.dates is None else self.dates[index],
            ids=None if self.ids is None else tuple(self.ids[i] for i in index),
        )

    def time_order(self) -> NDArray[np.intp]:
        """Row positions in time order (file order when there is no date column)."""
        if self.dates is None:
            return np.arange(len(self))
        return np.argsort(self.dates, kind="stable")


@dataclass(frozen=True)
class _Layout:
    """Which column holds what."""

    label: int
    metrics: dict[str, int]
    date: int | None
    id: int | None
    ignored: tuple[str, ...]


def _layout(header: list[str], label: str, where: str) -> _Layout:
    names = [h.strip() for h in header]
    lowered = [n.lower() for n in names]
    if label.strip().lower() not in lowered:
        raise InvalidInput(f"{where}: no label column '{label}' (columns: {', '.join(names)})")
    label_at = lowered.index(label.strip().lower())
    metrics: dict[str, int] = {}
    used = {label_at}
    for i, name in enumerate(names):
        metric = canonical(name)
        if metric is not None and metric not in metrics and i != label_at:
            metrics[metric] = i
            used.add(i)
    if not metrics:
        raise InvalidInput(
            f"{where}: no change metric columns (expected some of {', '.join(METRICS)})"
        )
    date_at = lowered.index(DATE_COLUMN) if DATE_COLUMN in lowered else None
    id_at = lowered.index(ID_COLUMN) if ID_COLUMN in lowered else None
    used |= {i for i in (date_at, id_at) if i is not None}
    ignored = tuple(n for i, n in enumerate(names) if i not in used and not _INDEX_COLUMN.match(n))
    return _Layout(label_at, metrics, date_at, id_at, ignored)


def _metric(cell: str, column: str, where: str) -> float:
    text = cell.strip()
    if text.lower() in MISSING_CELLS:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"{where}: column '{column}' is not a number: {cell!r}") from None
    if not math.isfinite(value):
        raise InvalidInput(f"{where}: column '{column}' is not a finite number: {cell!r}")
    return value


def _label(cell: str, column: str, where: str) -> int:
    text = cell.strip().lower()
    if text in TRUE_CELLS:
        return 1
    if text in FALSE_CELLS:
        return 0
    raise InvalidInput(f"{where}: label column '{column}' must be 0 or 1, got {cell!r}")


def _date(cell: str, where: str) -> float:
    text = cell.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{where}: column 'date' is neither Unix seconds nor ISO 8601: {cell!r}"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank row; the header first."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            for row in reader:
                if any(cell.strip() for cell in row):
                    yield reader.line_num, row
    except FileNotFoundError:
        raise InvalidInput(f"{path}: file not found") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a directory, not a CSV file") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not a UTF-8 text file") from None
    except csv.Error as exc:
        raise InvalidInput(f"{path}: not a readable CSV file ({exc})") from None


def read_changes(path: str | Path, *, label: str = DEFAULT_LABEL) -> ChangeTable:
    """Read a CSV of changes; extra columns are ignored and missing metrics are reported."""
    source = Path(path)
    rows = _rows(source)
    first = next(rows, None)
    if first is None:
        raise InvalidInput(f"{source}: the file is empty")
    header = first[1]
    layout = _layout(header, label, str(source))
    names = [h.strip() for h in header]
    values: list[list[float]] = []
    labels: list[int] = []
    dates: list[float] = []
    ids: list[str] = []
    for line, row in rows:
        where = f"{source} line {line}"
        if len(row) != len(header):
            raise InvalidInput(f"{where}: {len(row)} fields, but the header has {len(header)}")
        values.append([_metric(row[i], names[i], where) for i in layout.metrics.values()])
        labels.append(_label(row[layout.label], names[layout.label], where))
        if layout.date is not None:
            dates.append(_date(row[layout.date], where))
        if layout.id is not None:
            ids.append(row[layout.id].strip())
    if not values:
        raise InvalidInput(f"{source}: no data rows, only a header")
    return ChangeTable(
        source=str(source),
        metrics=tuple(layout.metrics),
        x=np.asarray(values, dtype=float),
        labels=np.asarray(labels, dtype=np.int_),
        dates=np.asarray(dates, dtype=float) if layout.date is not None else None,
        ids=tuple(ids) if layout.id is not None else None,
        ignored_columns=layout.ignored,
        missing_metrics=tuple(m for m in METRICS if m not in layout.metrics),
    )
