"""The node around one measured point, read where the engine runs (the engine actor): CPU load
(``os.getloadavg`` at start and end, ``psutil.cpu_percent`` over the window) and, on GPU, the energy
each of the instance's GPUs used (NVML's total-energy counter, :class:`engines.telemetry.NVMLEnergy`).

The load goes into the result's ``co_tenancy`` record (the scheduler adds the other instances that
measured on the node, :mod:`orchestrator.execution.accounting`); a finished point also gets
``node_cpu_percent``, ``node_load_1m`` and the energy metrics. Where energy cannot be read the
result's ``engine_info.energy`` says why.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence

import psutil

from engines.telemetry import NVMLEnergy
from orchestrator.core.results import TrialResult
from orchestrator.core.status import Status
from orchestrator.execution.accounting import energy_metrics


class NodeProbe:
    def __init__(self, gpu_ids: Sequence[str]) -> None:
        self.energy = NVMLEnergy(gpu_ids)
        self.load_start = os.getloadavg()

    def start(self) -> NodeProbe:
        psutil.cpu_percent(interval=None)  # the next call measures from here
        self.load_start = os.getloadavg()
        self.energy.start()
        return self

    def finish(self, result: TrialResult) -> TrialResult:
        cpu = psutil.cpu_percent(interval=None)
        load_end = os.getloadavg()
        joules = self.energy.joules()
        result.co_tenancy = {
            **result.co_tenancy,
            "node": socket.gethostname(),
            "cpu_count": os.cpu_count(),
            "load_avg_start": [round(x, 2) for x in self.load_start],
            "load_avg_end": [round(x, 2) for x in load_end],
            "cpu_percent": cpu,
        }
        if self.energy.skipped:
            result.engine_info["energy"] = f"skipped: {self.energy.skipped}"
        if result.status is Status.DONE:
            result.metrics.update(node_cpu_percent=float(cpu), node_load_1m=float(load_end[0]))
            result.metrics.update(energy_metrics(result.metrics, joules))
        return result
