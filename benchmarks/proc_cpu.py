"""What a benchmark phase costs: CPU seconds (server, machine, client), py-spy stacks."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(child) for child in _children(pid))


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """User + system CPU seconds of this process (the load generator)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far by the server, the machine and this process."""

    server: float
    machine: float
    client: float

    @classmethod
    def now(cls, server_pid: int) -> CpuSample:
        """Read all three counters."""
        return cls(cpu_seconds(server_pid), machine_busy_seconds(), own_cpu_seconds())

    def since(self, earlier: CpuSample) -> CpuSample:
        """The CPU seconds spent between `earlier` and this sample."""
        return CpuSample(
            self.server - earlier.server,
            self.machine - earlier.machine,
            self.client - earlier.client,
        )


def profile(pid: int, seconds: float, output: str) -> subprocess.Popen[bytes] | None:
    """Sample the server (and its workers) with py-spy during a timed phase, if asked."""
    if not output:
        return None
    py_spy = Path(sys.executable).parent / "py-spy"
    command = [str(py_spy), "record", "--pid", str(pid), "--subprocesses", "--nonblocking"]
    command += ["--duration", str(int(seconds)), "--format", "raw", "--output", output]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def calibration_ms(rounds: int = 3) -> float:
    """Fastest of a few runs of a fixed pure-Python workload: how fast this machine is today.

    The same code measured on different days of the same kind of machine differed by up to
    2x; a figure is comparable only with its calibration.
    """
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        table = {str(i): hashlib.sha256(str(i).encode()).hexdigest() for i in range(200_000)}
        json.dumps(table)
        best = min(best, time.perf_counter() - began)
    return round(1000 * best, 1)
