"""What a bulk import needs from a database backend; one module per backend implements it.

The writers take rows that are validated already and write them with the driver's
fastest path. Each writes the history rows (`cmdb_changes`, which the graph index
follows) in SQL from the rows it has just inserted, so no per-row history is built
in Python. Links are written in two steps: the rows (which needs no audit event, so
it can overlap with another transaction finishing), then their history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection

# key, name, type, environment, status, criticality, owner_team, min_up, attributes (JSON text)
CIRow = tuple[str, str, str, str, str, int, str | None, str | None, str]
# source id, relationship type, target id, optional, source key, target key
Link = tuple[int, str, int, bool, str, str]
# what stage_links hands to link_history (None: no links)
StagedLinks = int | None
# the columns find_cis returns, in order (attributes decoded)
FOUND_COLUMNS = (
    "id",
    "version",
    "key",
    "name",
    "type",
    "environment",
    "status",
    "criticality",
    "owner_team",
    "min_up",
    "attributes",
)


@dataclass(frozen=True)
class Stamp:
    """What every history row of one import batch carries."""

    audit_seq: int
    actor: str
    now: datetime


class BulkWriter(Protocol):
    """Reads and writes of bulk import on one backend, inside the caller's transaction."""

    def prepare_bulk(self, conn: Connection) -> None:
        """Settings for a bulk load that can simply be run again (how commits flush)."""
        ...

    def ci_ids(self, conn: Connection, keys: list[str]) -> dict[str, tuple[int, str]]:
        """Id and type of each CI whose key is given (unknown keys are left out)."""
        ...

    def find_cis(self, conn: Connection, keys: list[str]) -> list[tuple[Any, ...]]:
        """The FOUND_COLUMNS of each CI whose key is given."""
        ...

    def insert_cis(self, conn: Connection, rows: list[CIRow], stamp: Stamp) -> int:
        """Insert new CIs with a `ci.create` history row each; how many were inserted."""
        ...

    def stage_links(self, conn: Connection, links: list[Link]) -> StagedLinks:
        """Insert the links not stored yet; what link_history needs to find them."""
        ...

    def link_history(self, conn: Connection, staged: StagedLinks, stamp: Stamp) -> int:
        """A `rel.create` history row for each link staged; how many links were new."""
        ...
