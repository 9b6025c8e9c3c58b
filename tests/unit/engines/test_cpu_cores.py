"""engines.cpu_cores: physical cores from sysfs, and leases that never give one core to two engines."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engines.base import LaunchSpec
from engines.cpu_cores import Core, format_cpu_list, lease, parse_cpu_list, usable_cores
from engines.vllm.engine import VLLMEngine
from orchestrator.config.schema import EngineConfig
from orchestrator.core.errors import EngineError
from orchestrator.core.status import FailureReason

FOUR = [Core((0,)), Core((1,)), Core((2,)), Core((3,))]


def fake_sysfs(root: Path, siblings: dict[int, str], packages: dict[int, int] | None = None) -> Path:
    for cpu, text in siblings.items():
        topo = root / f"cpu{cpu}" / "topology"
        topo.mkdir(parents=True)
        (topo / "thread_siblings_list").write_text(text + "\n")
        (topo / "physical_package_id").write_text(f"{(packages or {}).get(cpu, 0)}\n")
    return root


def test_cpu_lists() -> None:
    assert parse_cpu_list("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11]
    assert parse_cpu_list("5") == [5] and parse_cpu_list("") == []
    assert format_cpu_list([0, 2]) == "0,2"


def test_smt_siblings_are_one_core_and_only_allowed_cpus_count(tmp_path: Path) -> None:
    # 2 packages × 2 cores × 2 threads: cpu i and i+4 are siblings; cpus 3 and 7 not allowed
    siblings = {c: f"{c % 4},{c % 4 + 4}" for c in range(8)}
    sysfs = fake_sysfs(tmp_path, siblings, {c: (c % 4) // 2 for c in range(8)})
    cores = usable_cores({0, 1, 2, 4, 5, 6}, sysfs)
    assert [c.cpus for c in cores] == [(0, 4), (1, 5), (2, 6)]
    assert [c.package for c in cores] == [0, 0, 1]
    assert [c.cpus for c in usable_cores({1, 2}, sysfs)] == [(1,), (2,)]  # a sibling not allowed: left out
    assert [c.cpus for c in usable_cores({0, 1}, tmp_path / "none")] == [(0,), (1,)]  # no topology


def test_this_machine_has_usable_cores() -> None:
    cores = usable_cores()
    assert cores and {c for core in cores for c in core.cpus} <= set(os.sched_getaffinity(0))


def omp_bind(ranks: tuple[tuple[int, ...], ...]) -> str:
    """``VLLM_CPU_OMP_THREADS_BIND`` of a vLLM instance running on these ranks' CPUs."""
    spec = LaunchSpec("/m", "m", len(ranks), "127.0.0.1", 1, "cpu", cpu_ranks=ranks)
    return VLLMEngine().env(EngineConfig(), spec)["VLLM_CPU_OMP_THREADS_BIND"]


def test_two_leases_never_share_a_core_and_release_frees_them(tmp_path: Path) -> None:
    a = lease(2, 1, 5, cores=FOUR, directory=tmp_path)
    b = lease(1, 2, 5, cores=FOUR, directory=tmp_path)
    assert a.ranks == ((0,), (1,)) and b.ranks == ((2, 3),)
    assert set(a.cpus).isdisjoint(b.cpus)
    assert omp_bind(a.ranks) == "0|1" and omp_bind(b.ranks) == "2,3"  # what vLLM is given
    waits: list[str] = []
    with pytest.raises(EngineError) as err:
        lease(1, 1, 0.3, cores=FOUR, directory=tmp_path, on_wait=waits.append)
    assert err.value.reason is FailureReason.TIMEOUT
    assert f"core 0: pid {os.getpid()}" in str(err.value) and "engine.startup_timeout_s" in str(err.value)
    assert len(waits) == 1 and "waiting for 1 free CPU core(s)" in waits[0]
    a.release()
    c = lease(2, 1, 5, cores=FOUR, directory=tmp_path)
    assert c.ranks == ((0,), (1,))  # the freed ones, first
    b.release()
    c.release()


def test_smt_lease_binds_one_thread_per_core_and_confines_to_both(tmp_path: Path) -> None:
    got = lease(2, 1, 5, cores=[Core((0, 4)), Core((1, 5))], directory=tmp_path)
    assert got.ranks == ((0,), (1,)) and got.cpus == (0, 1, 4, 5)
    got.release()


def test_fewer_cores_than_ranks_fails_at_once_naming_the_fields(tmp_path: Path) -> None:
    t0 = time.monotonic()
    with pytest.raises(EngineError) as err:
        lease(4, 1, 60, cores=FOUR[:2], directory=tmp_path)
    assert time.monotonic() - t0 < 5, "never waits for cores that do not exist"
    assert err.value.reason is FailureReason.BAD_CONFIG
    assert "need 4 physical cores, but this node has 2 usable (0,1)" in str(err.value)
    assert "lower engine.tp or engine.cpus" in str(err.value)


def test_a_lease_handed_to_a_child_lasts_until_the_child_exits(tmp_path: Path) -> None:
    """The watchdog inherits the lease's descriptors: the cores stay taken after the actor lets go."""
    got = lease(1, 1, 5, cores=FOUR[:1], directory=tmp_path)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], pass_fds=got.fds)
    try:
        got.release()
        with pytest.raises(EngineError):
            lease(1, 1, 0.3, cores=FOUR[:1], directory=tmp_path)
        child.kill()
        child.wait()
        lease(1, 1, 5, cores=FOUR[:1], directory=tmp_path).release()  # the kernel freed it
    finally:
        child.kill()
        child.wait()
