"""engines.proctree: descendants in any process group, recorded by pid and start time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engines.proctree import Proc, Tree, descendants, signal_verified, start_time


def test_descendants_cross_groups_and_skip_zombies() -> None:
    procs = {
        1: Proc(1, 0, 1, 0, False),
        10: Proc(10, 1, 10, 5, False),  # the group leader
        11: Proc(11, 10, 11, 6, False),  # a shard in its own group
        12: Proc(12, 11, 11, 7, False),  # the shard's child
        13: Proc(13, 10, 10, 8, True),  # a zombie
        20: Proc(20, 1, 20, 9, False),  # unrelated
    }
    assert descendants([10], procs) == {11, 12}


def test_signal_verified_checks_the_start_time() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        start = start_time(child.pid)
        assert start is not None
        assert not signal_verified(child.pid, start + 1, signal.SIGKILL)  # a reused pid: untouched
        time.sleep(0.1)
        assert child.poll() is None
        assert signal_verified(child.pid, start, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        child.kill()
        child.wait()


def test_tree_keeps_an_orphan_in_its_own_group(tmp_path: Path) -> None:
    """The launcher starts a shard in its own group and dies: the shard is still recorded."""
    marker = tmp_path / "shard"
    code = (
        "import subprocess, sys, time, pathlib\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], process_group=0)\n"
        f"pathlib.Path({str(marker)!r}).write_text(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    launcher = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    shard = 0
    try:
        deadline = time.monotonic() + 20
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        shard = int(marker.read_text())
        tree = Tree(launcher.pid)
        tree.snapshot()
        assert set(tree.recorded()) == {launcher.pid, shard}
        assert tree.survivors() == [shard]  # outside the group only
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait()
        tree.snapshot()  # orphaned: no longer a descendant, still recorded
        assert tree.survivors() == [shard]
        assert tree.signal_survivors(signal.SIGKILL) == [shard]
        deadline = time.monotonic() + 10
        while start_time(shard) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert start_time(shard) is None
        tree.snapshot()
        assert tree.recorded() == {}
    finally:
        launcher.kill()
        launcher.wait()
        if shard and start_time(shard) is not None:
            os.kill(shard, signal.SIGKILL)
