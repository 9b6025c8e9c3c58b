"""An instance's core lease follows what Ray assigned its actor; fewer CPUs than ranks fails at once."""

from __future__ import annotations

from pathlib import Path

import pytest

import engines.cpu_cores as cpu_cores
from engines.cpu_cores import Core
from engines.registry import get_engine
from orchestrator.config.schema import EngineConfig
from orchestrator.core.errors import EngineError
from orchestrator.core.status import FailureReason
from orchestrator.execution.engine_run import lease_cores


@pytest.fixture
def four_cores(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(cpu_cores, "usable_cores", lambda: [Core((i,)) for i in range(4)])
    monkeypatch.setenv(cpu_cores.LOCK_DIR_ENV, str(tmp_path / "locks"))
    return tmp_path


def test_the_lease_is_what_ray_assigned_split_over_the_ranks(four_cores: Path) -> None:
    vllm = get_engine("vllm")
    log = four_cores / "engine.log"
    lease = lease_cores(vllm, EngineConfig(), "cpu", 2, 4, log)  # a bundle of 4 CPUs, TP 2
    assert lease is not None and lease.ranks == ((0, 1), (2, 3))
    assert "rank 0: [0, 1], rank 1: [2, 3]" in log.read_text()
    lease.release()
    default = lease_cores(vllm, EngineConfig(cpus=3), "cpu", 1, None, log)  # no Ray: tp × engine.cpus
    assert default is not None and default.ranks == ((0, 1, 2),)
    default.release()
    assert lease_cores(vllm, EngineConfig(), "gpu", 2, 4, log) is None  # GPU: no cores leased
    assert lease_cores(get_engine("tgi"), EngineConfig(name="tgi"), "cpu", 2, 1, log) is None


def test_fewer_cpus_than_ranks_is_bad_config(four_cores: Path) -> None:
    with pytest.raises(EngineError) as err:
        lease_cores(get_engine("vllm"), EngineConfig(), "cpu", 2, 1, four_cores / "engine.log")
    assert err.value.reason is FailureReason.BAD_CONFIG and "lower engine.tp" in str(err.value)
