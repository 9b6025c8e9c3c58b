"""Engine liveness: a stop signal ends sending; the watch notices an exited engine and says why."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from engines.liveness import EngineWatch
from engines.process import ManagedProcess
from workloads.constraints import ENGINE_STOPPED, Constraints, StopTracker


def test_stop_signal_stops_the_tracker() -> None:
    stop = threading.Event()
    tracker = StopTracker(Constraints(stop=stop))
    assert tracker.stop_reason(0) == ""
    stop.set()
    assert tracker.stop_reason(0) == ENGINE_STOPPED


def test_watch_sees_an_exited_process(tmp_path: Path) -> None:
    proc = ManagedProcess([sys.executable, "-c", "import sys; sys.exit(3)"], tmp_path / "engine.log")
    proc.start()
    proc.wait_exit(30)
    with EngineWatch(proc, poll_s=0.01) as watch:
        assert watch.stopped.is_set()  # the exit file alone says so, before the thread polls
        deadline = threading.Event()
        for _ in range(500):
            if watch.why:
                break
            deadline.wait(0.01)
    assert "exit code 3" in watch.why


def test_watch_stops_a_hung_engine(tmp_path: Path) -> None:
    proc = ManagedProcess([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "engine.log")
    proc.start()
    try:
        with EngineWatch(proc, lambda: False, poll_s=0.01, health_every_s=0.01, health_failures=2) as w:
            for _ in range(1000):
                if w.why:
                    break
                threading.Event().wait(0.01)
        assert "health check" in w.why and not proc.alive()
    finally:
        proc.stop()
