"""engines.shm and Tree(segments=True): an engine's /dev/shm segments are recorded and, once its
processes are gone, the ones it left are removed; a segment still in use is kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engines import shm
from engines.proctree import Tree, describe

HOLDER = """
import os, sys, time
from multiprocessing import resource_tracker, shared_memory
seg = shared_memory.SharedMemory(create=True, size=4096)
resource_tracker.unregister(seg._name, "shared_memory")  # like a C++ shm_open: no tracker cleans it
fd = os.open("/dev/shm/" + sys.argv[1], os.O_CREAT | os.O_RDWR, 0o600)  # held open, never mapped
print(seg.name, flush=True)
time.sleep(60)
"""


def start_holder(tmp_path: Path, named: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, named], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def test_segments_of_a_killed_tree_are_recorded_then_removed(tmp_path: Path) -> None:
    named = f"orch-test-{os.getpid()}-{time.monotonic_ns()}"
    proc, segment = start_holder(tmp_path, named)
    try:
        tree = Tree(proc.pid)
        tree.snapshot()
        assert tree.segments() == set(), "segments are read only when asked for"
        tree.snapshot(segments=True)
        assert {segment, named} <= tree.segments()
        assert shm.remove_leftovers(tree.segments()) == [], "still in use: kept"
        assert shm.existing([segment, named]) == {segment, named}
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert shm.existing([segment, named]) == {segment, named}, "SIGKILL leaves them"
        assert sorted(tree.remove_leftover_shm()) == sorted([segment, named])
        assert shm.existing([segment, named]) == set()
    finally:
        proc.kill()
        proc.wait()
        for name in (segment, named):
            (shm.SHM_DIR / name).unlink(missing_ok=True)


def test_names_carrying_a_pid_of_the_tree() -> None:
    """loky's semaphores are named after their creator (sem.loky-<pid>-<id>): they count too."""
    name = f"sem.loky-{os.getpid()}-orchtest"
    path = shm.SHM_DIR / name
    path.write_bytes(b"\0" * 32)
    try:
        assert name in shm.segments_of([os.getpid()])
        assert name not in shm.segments_of([os.getpid() + 10_000_000])
    finally:
        path.unlink(missing_ok=True)


def test_describe_reads_title_cpus_and_rank() -> None:
    env = {**os.environ, "RANK": "3", "WORLD_SIZE": "4"}
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], env=env)
    try:
        deadline = time.monotonic() + 10
        info = describe(child.pid)
        while info is not None and "sleep" not in info.cmdline and time.monotonic() < deadline:
            time.sleep(0.05)  # before exec the child still shows this interpreter's command line
            info = describe(child.pid)
        assert info is not None and "time.sleep(30)" in info.cmdline
        assert info.env == {"RANK": "3", "WORLD_SIZE": "4"}
        assert set(info.cpus) == set(os.sched_getaffinity(child.pid))
    finally:
        child.kill()
        child.wait()
    assert describe(child.pid) is None
