"""SLI sources, one module each, by the name an SLO gives."""

from __future__ import annotations

from flywheel.slo.readers.deployments import DeploymentTraffic
from flywheel.slo.readers.incidents import IncidentDowntime
from flywheel.slo.readers.probes import ProbeResults
from flywheel.slo.readers.prometheus import PrometheusQueries
from flywheel.slo.sli import SliReader, SourceKind

READERS: dict[SourceKind, SliReader] = {
    SourceKind.DEPLOYMENTS: DeploymentTraffic(),
    SourceKind.INCIDENTS: IncidentDowntime(),
    SourceKind.PROBES: ProbeResults(),
    SourceKind.PROMETHEUS: PrometheusQueries(),
}


def reader_for(source: SourceKind) -> SliReader:
    """The reader of an SLI source."""
    return READERS[source]
