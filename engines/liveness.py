"""Engine liveness during a workload point: notice at once when the engine dies or stops answering.

Without this, a point whose engine was killed ran on against a dead port: every remaining request
became a connection error, the point was recorded FAILED(request_errors) after hundreds of them,
and the next point went to the same dead port. :class:`EngineWatch` polls the process group (cheap)
and the engine's health URL (every ``health_every_s``); when the process has exited, or the health
check failed ``health_failures`` times in a row, it sets ``stopped`` (which the load generator's
constraints read before every send) and stops the engine's group, so requests in flight fail at once
instead of waiting for their timeout. ``why`` says what it saw.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from engines.process import ManagedProcess

POLL_S = 0.25
HEALTH_EVERY_S = 5.0
HEALTH_FAILURES = 3  # in a row: a busy engine may miss one; a hung one misses all


class _Stopped:
    """A stop signal that also sees the engine's exit file at once: a closed loop against a dead
    port fails a request per millisecond, far faster than the watch thread polls."""

    def __init__(self, process: ManagedProcess) -> None:
        self._event = threading.Event()
        self._exit_path = process.exit_path

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        if not self._event.is_set() and self._exit_path.exists():
            self._event.set()  # the watch thread stops the group and says why
        return self._event.is_set()


class EngineWatch:
    """A background thread watching one engine process while a point runs. A context manager."""

    def __init__(
        self,
        process: ManagedProcess,
        healthy: Callable[[], bool] | None = None,
        *,
        poll_s: float = POLL_S,
        health_every_s: float = HEALTH_EVERY_S,
        health_failures: int = HEALTH_FAILURES,
    ) -> None:
        self.process = process
        self.healthy = healthy
        self.poll_s = poll_s
        self.health_every_s = health_every_s
        self.health_failures = health_failures
        self.stopped = _Stopped(process)  # set when the engine is gone: stop sending
        self.why = ""
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="engine-watch", daemon=True)

    def _run(self) -> None:
        misses = 0
        next_health = time.monotonic() + self.health_every_s
        while not self._done.wait(self.poll_s):
            if self.stopped.is_set() or not self.process.alive():
                self._gone(f"the engine process exited (exit code {self.process.returncode})")
                return
            if self.healthy is not None and time.monotonic() >= next_health:
                misses = 0 if self.healthy() else misses + 1
                next_health = time.monotonic() + self.health_every_s
                if misses >= self.health_failures:
                    self._gone(f"the engine stopped answering its health check ({misses} checks in a row)")
                    return

    def _gone(self, why: str) -> None:
        self.why = why
        self.stopped.set()
        self.process.stop()  # what is left of the group: requests in flight fail now, not at timeout

    def __enter__(self) -> EngineWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
