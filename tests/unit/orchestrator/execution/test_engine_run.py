"""An instance's core lease follows what Ray assigned its actor; fewer CPUs than ranks fails at once."""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path

import pytest

import engines.cpu_cores as cpu_cores
import orchestrator.execution.engine_run as engine_run
from engines.base import LaunchSpec
from engines.cpu_cores import Core
from engines.process import free_port
from engines.proctree import ProcInfo
from engines.registry import get_engine
from orchestrator.config.schema import EngineConfig
from orchestrator.core.errors import EngineError
from orchestrator.core.status import FailureReason
from orchestrator.core.validity import FlagKind
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


class FakeProcess:
    """A ManagedProcess whose tree shows nothing for the first ``blank`` scans."""

    stop_argv = None
    log_path = Path("/nonexistent/engine.log")

    def __init__(self, blank: int, alive: bool = True, pids: tuple[int, ...] = (10, 11, 12)) -> None:
        self.blank, self.scans, self._alive, self.pids = blank, 0, alive, pids

    def processes(self) -> list[ProcInfo]:
        self.scans += 1
        if self.scans <= self.blank:
            return [ProcInfo(10, 1, "python -m vllm.entrypoints.openai.api_server", (0,))]
        return [
            ProcInfo(10, 1, "python -m vllm.entrypoints.openai.api_server", (0,)),
            ProcInfo(11, 10, "VLLM::EngineCore", (0,)),
            ProcInfo(12, 11, "VLLM::Worker", (0,)),
        ]

    def alive(self) -> bool:
        return self._alive

    def segments(self) -> list[str]:
        return []


SPEC = LaunchSpec("/m", "tiny", 1, "127.0.0.1", free_port(), "cpu", cpu_ranks=((0,),))  # no listener


def test_a_rank_showing_engine_that_showed_no_rank_is_scanned_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_run, "RANK_SCAN_WAIT_S", 0.0)
    proc = FakeProcess(blank=2)
    ran = engine_run.scan_ranks(get_engine("vllm"), EngineConfig(), SPEC, proc)  # type: ignore[arg-type]
    assert ran["rank_scans"] == 3 and ran["executor_backend"] == "mp" and len(ran["workers"]) == 1
    assert "processes_seen" not in ran


def test_still_no_rank_records_what_was_seen_and_flags_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_run, "RANK_SCAN_WAIT_S", 0.0)
    proc = FakeProcess(blank=100)
    info = engine_run.ran_info(get_engine("vllm"), EngineConfig(), SPEC, proc, None)  # type: ignore[arg-type]
    assert info["rank_scans"] == engine_run.RANK_SCAN_TRIES and info["workers"] == []
    assert info["processes_seen"] == ["10 python -m vllm.entrypoints.openai.api_server"]
    (flag,) = engine_run.ranks_flags(info, placed_tp=1)
    assert flag.kind is FlagKind.RANKS_MISMATCH and not flag.fails
    assert "launched with TP 1, its processes showed 0 rank(s) after 6 scan(s)" in flag.reason


def test_a_dead_engine_or_one_that_cannot_show_ranks_is_scanned_once() -> None:
    proc = FakeProcess(blank=100, alive=False)
    assert engine_run.scan_ranks(get_engine("vllm"), EngineConfig(), SPEC, proc)["rank_scans"] == 1  # type: ignore[arg-type]
    ray = EngineConfig(distributed_executor_backend="ray")
    proc = FakeProcess(blank=100)
    ran = engine_run.scan_ranks(get_engine("vllm"), ray, SPEC, proc)  # type: ignore[arg-type]
    assert ran["rank_scans"] == 1 and "processes_seen" not in ran


def test_ranks_flags_only_for_engines_that_show_ranks() -> None:
    shown = {"shows_ranks": True, "workers": [{"rank": 0}, {"rank": 1}], "rank_scans": 1}
    assert engine_run.ranks_flags(shown, placed_tp=2) == []
    assert engine_run.ranks_flags({**shown, "shows_ranks": False}, placed_tp=4) == []
    (flag,) = engine_run.ranks_flags(shown, placed_tp=4)
    assert "launched with TP 4, its processes showed 2 rank(s)" in flag.reason


def test_the_port_listener_is_the_engines_own_or_the_start_fails() -> None:
    """Readiness answered by another server on the engine's port (its own bind failed) must not
    pass as this engine: the listener is checked against the engine's process tree."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        spec = dataclasses.replace(SPEC, port=server.getsockname()[1])
        me = ProcInfo(os.getpid(), os.getppid(), "this test", (0,))
        engine = FakeProcess(blank=0)
        assert engine_run.port_listener(spec, engine, [me]) == os.getpid()  # type: ignore[arg-type]
        with pytest.raises(EngineError) as err:
            engine_run.port_listener(spec, engine, engine.processes())  # type: ignore[arg-type]
        assert err.value.reason is FailureReason.PORT_IN_USE
        assert (
            f"port {spec.port} answered readiness, but the process listening on it is pid {os.getpid()}"
            in str(err.value)
        )
        in_container = FakeProcess(blank=0)
        in_container.stop_argv = ["docker", "stop", "x"]  # type: ignore[assignment]
        assert engine_run.port_listener(spec, in_container, []) is None  # type: ignore[arg-type]
    nobody = FakeProcess(blank=0)  # nobody listens: not seen
    assert engine_run.port_listener(spec, nobody, nobody.processes()) is None  # type: ignore[arg-type]
