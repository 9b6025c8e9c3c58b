"""One lifecycle for every engine process.

The engine runs in its own session (process group) under a small watchdog (``engines.watchdog``)
that kills the whole group if the launching process (the Ray actor) dies without stopping it.
Output goes to a log file kept with the trial. Stop = SIGTERM to the group, then SIGKILL, then the
same for every recorded descendant that lives in another group and outlived it (TGI's shards and
router run in their own groups: :mod:`engines.proctree`); the tree is recorded every
``TRACK_S`` while the engine runs, at readiness and right before stopping (with its shared-memory
segments then), and the segments the stopped engine left are removed. ``cpus`` confines the tree
to those logical CPUs; ``pass_fds`` are held by the watchdog for the engine's life (a core lease).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from engines.cpu_cores import format_cpu_list
from engines.failures import classify_failure  # also imported from here
from engines.proctree import ProcInfo, Tree, group_members
from engines.watchdog import run_on_stop
from orchestrator.core.errors import EngineError
from orchestrator.core.status import FailureReason

TRACK_S = 1.0  # how often the engine's process tree is recorded while it runs
SURVIVOR_GRACE_S = 5.0  # a descendant that outlived the group: SIGTERM, this long, then SIGKILL
# The first variable of every engine's environment: ours, never rewritten by the engine. setproctitle
# (vLLM's ``VLLM::Worker_TP<r>`` titles, which the record of what ran reads) finds the argv area by
# walking back from ``environ[0]``; if a process rewrites that variable before naming itself (vLLM
# sets OMP_NUM_THREADS, LD_LIBRARY_PATH, TORCHINDUCTOR_COMPILE_THREADS... on import) the title is
# silently lost, and a Ray worker's environment starts with whatever variable its raylet put first.
ENGINE_LOG_ENV = "ORCH_ENGINE_LOG"


def engine_environment(env: Mapping[str, str], log_path: Path) -> dict[str, str]:
    """``env`` with :data:`ENGINE_LOG_ENV` (the engine's log) first, so that no variable an engine
    rewrites is ``environ[0]`` of its processes (pure)."""
    return {ENGINE_LOG_ENV: str(log_path), **{k: v for k, v in env.items() if k != ENGINE_LOG_ENV}}


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on ``host`` (the engine binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def tail(path: Path, max_lines: int = 40, max_bytes: int = 64_000) -> str:
    """The last lines of a log file ('' if it does not exist)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - max_bytes))
            data = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""
    return "\n".join(data.splitlines()[-max_lines:])


def log_note(path: Path, source: str, text: str) -> None:
    """Append ``<source>: <text>`` to an engine log (its folder made; a log that cannot be written
    costs the line, not the run)."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as log:
            log.write(f"{source}: {text}\n")


class ManagedProcess:
    """Start, watch, wait-for-ready and stop one engine process group. A context manager.

    The launcher starts ``engines.watchdog`` in a new session; the watchdog detaches (so a Ray
    worker's exit, which SIGKILLs its direct children, cannot orphan the engine), runs the command,
    and writes its exit code to ``<log>.exit``. The process group is the unit of life and death.
    """

    def __init__(
        self,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        term_grace_s: float = 15.0,
        stop_argv: Sequence[str] | None = None,
        cpus: Sequence[int] | None = None,
        pass_fds: Sequence[int] = (),
        scratch: str | None = None,
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.exit_path = log_path.with_name(log_path.name + ".exit")
        self.env = engine_environment(os.environ if env is None else env, log_path)
        self.cwd = cwd
        self.term_grace_s = term_grace_s
        self.stop_argv = list(stop_argv) if stop_argv else None  # e.g. docker stop NAME
        self.cpus = list(cpus) if cpus else None  # the engine's process tree runs on these CPUs only
        self.pass_fds = tuple(pass_fds)  # held by the watchdog until the engine is gone
        self.scratch = scratch  # the watchdog removes it once the engine is gone (its actor may not)
        self.pgid: int | None = None
        self.tree: Tree | None = None  # every descendant seen, in any process group
        self._launcher: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()

    @property
    def pid(self) -> int | None:
        """The process group id (the watchdog's pid at launch)."""
        return self.pgid

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.exit_path.unlink(missing_ok=True)
        watchdog = [
            sys.executable, "-m", "engines.watchdog",
            "--parent", str(os.getpid()), "--exit-file", str(self.exit_path),
        ]  # fmt: skip
        stop = json.dumps(self.stop_argv) if self.stop_argv else ""
        for flag, value in (
            ("--on-stop", stop),
            ("--cpus", format_cpu_list(self.cpus or ())),
            ("--remove", self.scratch),
        ):
            if value:
                watchdog += [flag, value]
        watchdog += ["--", *self.argv]
        with self.log_path.open("ab") as log:
            self._launcher = subprocess.Popen(
                watchdog,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                pass_fds=self.pass_fds,
            )
        self.pgid = self._launcher.pid
        self._launcher.wait()  # it exits as soon as the detached watchdog is running
        self.tree = Tree(self.pgid)
        self._stopping.clear()
        threading.Thread(target=self._track, args=(self.tree,), name="engine-tree", daemon=True).start()

    def _track(self, tree: Tree) -> None:
        """Record the tree until stop, or until the group is gone (orphans are no longer found)."""
        while not self._stopping.wait(TRACK_S):
            tree.snapshot()
            if not group_alive(tree.pgid):
                return

    @property
    def returncode(self) -> int | None:
        """The command's exit code once it has exited (None while running or if killed)."""
        try:
            return int(self.exit_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def alive(self) -> bool:
        return self.pgid is not None and self.returncode is None and group_alive(self.pgid)

    def wait_ready(self, probe: Callable[[], bool], timeout_s: float, interval_s: float = 0.5) -> float:
        """Poll ``probe`` until True; fail fast if the process exits. Returns seconds waited."""
        t0 = time.monotonic()
        while True:
            if not self.alive():
                code = self.returncode
                text = tail(self.log_path, 400)
                raise EngineError(
                    f"engine exited with code {code} before it was ready",
                    reason=classify_failure(text, code),
                    log_tail=tail(self.log_path),
                )
            if probe():
                if self.tree is not None:  # every process (and segment) the engine serves with exists now
                    self.tree.snapshot(segments=True)
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout_s:
                raise EngineError(
                    f"engine not ready after {timeout_s:.0f} s (engine.startup_timeout_s)",
                    reason=FailureReason.TIMEOUT,
                    log_tail=tail(self.log_path),
                )
            time.sleep(interval_s)

    def wait_exit(self, timeout_s: float, interval_s: float = 0.02, scan_every_s: float = 0.5) -> int | None:
        """Wait for the command to exit; its exit code, or None if still running at the timeout.

        Polls the exit file (cheap) every ``interval_s``; scans /proc for a group killed without
        writing one only every ``scan_every_s``.
        """
        deadline = time.monotonic() + timeout_s
        next_scan = time.monotonic() + scan_every_s
        while self.returncode is None:
            now = time.monotonic()
            if now >= next_scan:
                if not self.alive():
                    break
                next_scan = now + scan_every_s
            if now > deadline:
                return None
            time.sleep(interval_s)
        _wait_group(self.pgid or 0, 2.0)  # the watchdog writes the code and exits right after
        code = self.returncode
        return code if code is not None else -9

    def stop(self) -> int | None:
        """Run ``stop_argv`` (if any), SIGTERM the group, wait ``term_grace_s``, then SIGKILL it;
        then stop the recorded descendants in other groups that outlived it (:meth:`_survivors`).

        Returns the command's exit code.
        """
        if self.pgid is None:
            return None
        if self.tree is not None:  # before any signal: a child may be orphaned by it
            self.tree.snapshot(segments=True)
        self._stopping.set()
        if self.stop_argv and group_alive(self.pgid):
            run_on_stop(self.stop_argv, timeout_s=self.term_grace_s + 15)
        _signal_group(self.pgid, signal.SIGTERM)
        _wait_group(self.pgid, self.term_grace_s)
        _signal_group(self.pgid, signal.SIGKILL)
        _wait_group(self.pgid, 5.0)
        if self.tree is not None:
            self._survivors(self.tree)
            if removed := self.tree.remove_leftover_shm():
                self._note(f"removed {len(removed)} shared-memory segment(s) the engine left in /dev/shm: "
                           f"{', '.join(removed)}")  # fmt: skip
        return self.returncode

    def processes(self) -> list[ProcInfo]:
        """The engine's live processes, in any group (empty before start)."""
        if self.tree is None:
            return []
        self.tree.snapshot()
        return self.tree.processes()

    def segments(self) -> list[str]:
        """The shared-memory segments recorded for the engine so far (by name)."""
        return sorted(self.tree.segments()) if self.tree is not None else []

    def _survivors(self, tree: Tree) -> None:
        """Descendants in their own groups still alive after the group (the launcher was killed
        or slower than ``term_grace_s``): SIGTERM, ``SURVIVOR_GRACE_S``, SIGKILL. Logged."""
        left = tree.signal_survivors(signal.SIGTERM)
        if not left:
            return
        self._note(f"{len(left)} process(es) outside the engine's process group outlived it "
                   f"(pids {', '.join(map(str, left))}): SIGTERM")  # fmt: skip
        deadline = time.monotonic() + min(SURVIVOR_GRACE_S, self.term_grace_s)
        while tree.survivors() and time.monotonic() < deadline:
            time.sleep(0.05)
        killed = tree.signal_survivors(signal.SIGKILL)
        if killed:
            self._note(f"SIGKILL to pids {', '.join(map(str, killed))} (still alive after SIGTERM)")
        deadline = time.monotonic() + 5.0
        while tree.survivors() and time.monotonic() < deadline:
            time.sleep(0.05)

    def _note(self, text: str) -> None:
        log_note(self.log_path, "engines.process", text)

    def __enter__(self) -> ManagedProcess:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _wait_group(pgid: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    """True while any live process of the group exists (zombies awaiting reaping do not count)."""
    return bool(group_members(pgid))
