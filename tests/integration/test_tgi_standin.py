"""The TGI stand-in (engines/standins/tgi, behaviour of TGI 3.3.7) as real processes, and our TGI path
against it: flags and clap errors, the torch.distributed master port and shard sockets, the HTTP API
through workloads.clients.tgi.stream_tgi, validation, and one static-batch point via EngineRunner.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from engines.process import free_port, group_members
from engines.tiny_model import ensure_tiny_model, word
from tests.conftest import kill_tagged, tagged_env, wait_no_tagged
from workloads.clients.session import open_session
from workloads.clients.tgi import stream_tgi
from workloads.records import RequestRecord

pytestmark = pytest.mark.integration

BIN = Path(__file__).resolve().parents[2] / "engines" / "standins" / "tgi" / "bin"
HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def model() -> str:
    return str(ensure_tiny_model())


def standin_env(tag: str, **extra: str) -> dict[str, str]:
    env = tagged_env(tag)
    env["PATH"] = f"{BIN}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["TGI_STANDIN_PYTHON"] = sys.executable
    env.pop("HOSTNAME", None)  # clap reads HOSTNAME as --hostname
    env.update(extra)
    return env


class Launcher:
    def __init__(self, tmp: Path, name: str, args: list[str], env: dict[str, str]) -> None:
        self.log = tmp / f"{name}.log"
        self.err = tmp / f"{name}.err"
        with self.log.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                ["text-generation-launcher", *args], stdout=out, stderr=err, env=env, start_new_session=True
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace") + self.err.read_text(errors="replace")

    def wait(self, timeout_s: float = 20.0) -> int:
        return self.proc.wait(timeout=timeout_s)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)


def launch(tmp: Path, name: str, args: list[str], env: dict[str, str]) -> Launcher:
    return Launcher(tmp, name, args, env)


def base_args(model: str, port: int, uds: Path, *more: str) -> list[str]:
    return [
        "--model-id",
        model,
        "--hostname",
        HOST,
        "--port",
        str(port),
        "--shard-uds-path",
        str(uds),
        "--prometheus-port",
        str(free_port()),
        *more,
    ]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def post(url: str, body: dict[str, Any]) -> tuple[int, bytes]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ready(launcher: Launcher, port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if launcher.proc.poll() is not None:
            raise AssertionError(f"launcher exited {launcher.proc.returncode}:\n{launcher.text()[-3000:]}")
        if get(f"http://{HOST}:{port}/health")[0] == 200:
            return
        time.sleep(0.1)
    raise AssertionError(f"not ready in {timeout_s}s:\n{launcher.text()[-3000:]}")


@pytest.fixture
def cleanup(tag: str) -> Iterator[str]:
    yield tag
    if wait_no_tagged(tag, timeout_s=10):
        kill_tagged(tag)
        pytest.fail("stand-in processes were left running")


def prompt(n_words: int) -> str:
    return " ".join(word(i) for i in range(n_words))  # BOS + one token per word


def stream(port: int, payload: dict[str, Any]) -> RequestRecord:
    async def go() -> RequestRecord:
        async with open_session(1) as session:
            return await stream_tgi(
                session,
                f"http://{HOST}:{port}/generate_stream",
                payload,
                request_id=0,
                scheduled_ns=time.perf_counter_ns(),
                timeout_s=10.0,
            )

    return asyncio.run(go())


def test_flags_and_clap_errors(tmp_path: Path, model: str, cleanup: str) -> None:
    env = standin_env(cleanup)

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["text-generation-launcher", *args],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=20,
        )

    out = run("--foo", "1")
    assert out.returncode == 2 and "error: unexpected argument '--foo' found" in out.stderr
    assert run("--ignore-eos").returncode == 2
    out = run("--port", "abc")
    assert out.returncode == 2 and "invalid value 'abc' for '--port <PORT>'" in out.stderr
    out = run("--quantize", "int3")
    assert out.returncode == 2 and "[possible values: awq," in out.stderr
    out = run("--trust-remote-code=yes")
    assert out.returncode == 2
    assert run("--version").stdout.strip() == "text-generation-launcher 3.3.7"
    old = run("--prometheus-port", "9100", TGI_STANDIN_VERSION="3.2.3")  # the flag exists from 3.3.0
    assert old.returncode == 2 and "unexpected argument '--prometheus-port'" in old.stderr
    # env fallbacks (clap `env`) reach the launcher's own validation: exit 1, Rust's Debug of the Err
    out = run("--model-id", model, MAX_INPUT_TOKENS="64", MAX_TOTAL_TOKENS="32")
    assert out.returncode == 1
    assert (
        'Error: ArgumentValidation("`max_input_tokens`(64) must be < `max_total_tokens`(32)")' in out.stderr
    )
    out = run("--model-id", model, "--max-input-tokens", "8", "--max-input-length", "8")
    assert out.returncode == 1 and "Both `max_input_tokens` (8) and `max_input_length` (8)" in out.stderr
    out = run("--model-id", str(tmp_path / "missing"), "--port", str(free_port()))
    assert out.returncode == 1 and "Error: DownloadError" in out.stderr


def test_master_port_sockets_and_client(tmp_path: Path, model: str, cleanup: str) -> None:
    env = standin_env(cleanup)
    master = free_port()
    port_a, port_b, port_c = free_port(), free_port(), free_port()
    uds_a, uds_b, uds_c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    a = launch(
        tmp_path,
        "a",
        base_args(
            model,
            port_a,
            uds_a,
            "--num-shard",
            "2",
            "--master-port",
            str(master),
            "--max-input-tokens",
            "16",
            "--max-total-tokens",
            "32",
        ),
        env,
    )
    started: list[Launcher] = [a]
    try:
        wait_ready(a, port_a)
        assert Path(f"{uds_a}-0").is_socket() and Path(f"{uds_a}-1").is_socket()
        # a second instance on the same torch.distributed master port: rank 0 cannot host the store
        b = launch(
            tmp_path,
            "b",
            base_args(model, port_b, uds_b, "--num-shard", "2", "--master-port", str(master)),
            env,
        )
        started.append(b)
        assert b.wait(timeout_s=30) == 1
        text = b.text()
        assert "Shard 0 failed to start" in text and "Error: ShardCannotStart" in text, text[-3000:]
        assert "EADDRINUSE" in text
        assert not Path(f"{uds_b}-0").exists() and not Path(f"{uds_b}-1").exists()
        # a distinct master port: both serve
        c = launch(
            tmp_path,
            "c",
            base_args(model, port_c, uds_c, "--num-shard", "2", "--master-port", str(free_port())),
            env,
        )
        started.append(c)
        wait_ready(c, port_c)
        assert get(f"http://{HOST}:{port_a}/health")[0] == 200

        info = json.loads(get(f"http://{HOST}:{port_a}/info")[1])
        assert info["model_id"] == model and info["version"] == "3.3.7"
        assert (info["max_input_tokens"], info["max_total_tokens"]) == (16, 32)

        # our client: generated_tokens from details; unknown parameters are ignored (no deny_unknown_fields)
        rec = stream(port_a, {"prompt": prompt(5), "max_tokens": 6, "temperature": 0.0})
        assert rec.error is None and rec.output_tokens == 6 and len(rec.token_times_ns) == 6, rec
        rec = stream(
            port_a,
            {"inputs": prompt(5), "parameters": {"max_new_tokens": 3, "ignore_eos": True, "min_tokens": 3}},
        )
        assert rec.error is None and rec.output_tokens == 3

        # validation: 422 on /generate; on /generate_stream the stream is open: 200 + an error event
        status, body = post(
            f"http://{HOST}:{port_a}/generate", {"inputs": prompt(20), "parameters": {"max_new_tokens": 4}}
        )
        err = json.loads(body)
        assert status == 422 and err["error_type"] == "validation"
        assert err["error"] == "Input validation error: `inputs` must have less than 16 tokens. Given: 21"
        status, body = post(
            f"http://{HOST}:{port_a}/generate", {"inputs": prompt(10), "parameters": {"max_new_tokens": 30}}
        )
        assert (
            status == 422 and "`inputs` tokens + `max_new_tokens` must be <= 32" in json.loads(body)["error"]
        )
        status, body = post(
            f"http://{HOST}:{port_a}/generate", {"inputs": "w1", "parameters": {"max_new_tokens": 0}}
        )
        assert status == 422 and "`max_new_tokens` must be strictly positive" in json.loads(body)["error"]
        status, body = post(
            f"http://{HOST}:{port_a}/generate",
            {"inputs": "w1", "parameters": {"temperature": 0.0, "max_new_tokens": 2}},
        )
        assert status == 422 and "`temperature` must be strictly positive" in json.loads(body)["error"]
        status, body = post(
            f"http://{HOST}:{port_a}/generate", {"inputs": "w1", "parameters": {"max_new_tokens": -1}}
        )
        assert status == 422 and body.startswith(b"Failed to deserialize the JSON body")
        rec = stream(port_a, {"prompt": prompt(20), "max_tokens": 4})
        assert rec.error_kind == "http" and "`inputs` must have less than 16 tokens" in (rec.error or "")

        status, body = post(
            f"http://{HOST}:{port_a}/generate",
            {"inputs": prompt(3), "parameters": {"max_new_tokens": 2, "details": True}},
        )
        out = json.loads(body)
        assert status == 200 and out["details"]["generated_tokens"] == 2
        assert out["details"]["finish_reason"] == "length" and len(out["details"]["tokens"]) == 2

        metrics = get(f"http://{HOST}:{port_a}/metrics")[1].decode()
        for name in (
            "tgi_request_count",
            "tgi_request_success",
            "tgi_queue_size",
            "tgi_batch_current_size",
            "tgi_request_generated_tokens_bucket",
            'tgi_request_failure{err="validation"}',
        ):
            assert name in metrics, name
    finally:
        codes = [launcher.stop() for launcher in started]
    assert codes[0] == 0 and codes[2] == 0
    for uds in (uds_a, uds_c):
        assert not Path(f"{uds}-0").exists() and not Path(f"{uds}-1").exists()


def test_early_eos_and_port_taken(tmp_path: Path, model: str, cleanup: str) -> None:
    env = standin_env(cleanup, TGI_STANDIN_EOS_AFTER="3")
    port = free_port()
    a = launch(tmp_path, "eos", base_args(model, port, tmp_path / "eos"), env)
    try:
        wait_ready(a, port)
        rec = stream(port, {"prompt": prompt(4), "max_tokens": 8})
        assert rec.error is None and rec.output_tokens == 3 < 8  # EOS is the 3rd token, counted
        _, body = post(
            f"http://{HOST}:{port}/generate",
            {"inputs": prompt(4), "parameters": {"max_new_tokens": 8, "details": True, "ignore_eos": True}},
        )
        details = json.loads(body)["details"]
        assert details["finish_reason"] == "eos_token" and details["generated_tokens"] == 3
        assert details["tokens"][-1]["special"] is True
        # the HTTP port taken: the router fails to bind, the launcher reports the webserver crash
        b = launch(tmp_path, "taken", base_args(model, port, tmp_path / "taken"), env)
        assert b.wait(timeout_s=30) == 1
        assert "Failed to bind to" in b.text() and "Error: WebserverFailed" in b.text()
    finally:
        assert a.stop() == 0
    assert not Path(f"{tmp_path / 'eos'}-0").exists()


@pytest.mark.parametrize("eos_after", [None, 2])
def test_engine_runner_static_batch(
    tmp_path: Path, model: str, cleanup: str, monkeypatch: pytest.MonkeyPatch, eos_after: int | None
) -> None:
    """One static-batch point through EngineRunner; TGI has no ignore_eos, so an early EOS (the
    stand-in's TGI_STANDIN_EOS_AFTER) must fail the point as short_outputs, never pass as measured."""
    from engines.tgi.config import TGIConfig
    from orchestrator.config.schema import EngineConfig, ModelConfig
    from orchestrator.core.load import LoadSpec
    from orchestrator.core.status import FailureReason, Status
    from orchestrator.core.trial import Trial
    from orchestrator.execution.runner import EngineRunner

    extra = {"TGI_STANDIN_EOS_AFTER": str(eos_after)} if eos_after else {}
    for key, value in standin_env(cleanup, **extra).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HOSTNAME", raising=False)
    cfg = EngineConfig(
        name="tgi",
        tgi=TGIConfig(shard_uds_path=str(tmp_path / "tgi")),
    )  # master and prometheus ports: the runner's side channels, this instance's own
    runner = EngineRunner(cfg, ModelConfig(), tp=2, device="cpu", work_dir=tmp_path)
    point = LoadSpec(
        name="static_batch",
        api="completions",
        concurrency=0,
        input_len=8,
        output_len=4,
        num_requests=2,
        warmup_requests=0,
        ignore_eos=True,
        temperature=0.0,
        timeout_s=10.0,
        seed=0,
        max_error_rate=0.0,
        batch_size=2,
        runs=2,
        warmups=1,
    )
    try:
        info = runner.start([])
        assert info["engine_version"] == "3.3.7"
        assert info["engine_tp"] == 2  # TGI on CPU: its placement TP (engines.base.engine_tp)
        assert [w["rank"] for w in info["workers"]] == [0, 1] and info["executor_backend"] == "shards"
        command = info["command"]
        assert command[command.index("--num-shard") + 1] == "2"
        assert Path(f"{tmp_path / 'tgi'}-0").is_socket() and Path(f"{tmp_path / 'tgi'}-1").is_socket()
        result = runner.run_point(Trial("t-tgi", "g", 2, cfg, ModelConfig(), point))
    finally:
        runner.stop()
    if eos_after:
        assert result.status is Status.FAILED and result.reason is FailureReason.SHORT_OUTPUTS, result.message
        assert all(r["output_tokens"] == eos_after for r in result.records)
        return
    assert result.status is Status.DONE, (result.reason, result.message, runner.log_text()[-2000:])
    assert all(r["output_tokens"] == 4 for r in result.records)
    assert result.metrics["prefill_latency_avg_ms"] > 0
    # the measured runs reuse the warmup's keep-alive connections: events still one step apart
    assert result.metrics["decode_throughput_avg"] > 0 and result.metrics["itl_bunched_share"] < 0.5
    assert result.metrics["decode_token_latency_avg_ms"] > 2.0  # TGI_STANDIN_TOKEN_MS=5 per step
    assert not result.flags, result.flags
    # the engine's first point: its counters first appear after it, and count from 0 (1 warmup + 2 runs)
    assert result.metrics["engine_requests_finished"] == 3 * 2
    assert result.metrics["engine_generation_tokens"] == 3 * 2 * 4
    assert not Path(f"{tmp_path / 'tgi'}-0").exists() and not Path(f"{tmp_path / 'tgi'}-1").exists()


def test_keepalive_sse_events_coalesced(tmp_path: Path, model: str, cleanup: str) -> None:
    """TGI 3.3.7 (axum 0.7.9 serve) leaves Nagle on: a client that delays its ACKs on a reused
    connection gets each stream ~40 ms late in one burst (ITL 0). Ours re-arms TCP_QUICKACK after
    every read, so the events stay TGI_STANDIN_TOKEN_MS apart on the reused connection too."""
    env = standin_env(cleanup, TGI_STANDIN_TOKEN_MS="5")
    port = free_port()
    a = launch(tmp_path, "ka", base_args(model, port, tmp_path / "ka"), env)
    url = f"http://{HOST}:{port}/generate_stream"

    async def go() -> list[RequestRecord]:
        async with open_session(1) as session:
            return [
                await stream_tgi(
                    session,
                    url,
                    {"prompt": prompt(3), "max_tokens": 4},
                    request_id=i,
                    scheduled_ns=time.perf_counter_ns(),
                    timeout_s=10.0,
                )
                for i in range(3)
            ]

    try:
        wait_ready(a, port)
        records = asyncio.run(go())
    finally:
        a.stop()
    for rec in records:
        gaps = [(b - a_) / 1e6 for a_, b in zip(rec.token_times_ns, rec.token_times_ns[1:], strict=False)]
        assert rec.error is None and min(gaps) > 2.0, gaps


def test_shared_uds_path_and_shard_crash(tmp_path: Path, model: str, cleanup: str) -> None:
    """TGI does not detect a second instance on the same --shard-uds-path: its launcher removes the
    first one's socket file and its shard binds the path (grpc unlinks first), so both serve; the first
    keeps its router's connection. A shard that dies after startup: ``Shard N crashed``, exit 1."""
    env = standin_env(cleanup)
    uds = tmp_path / "shared"
    port_a, port_b, port_c = free_port(), free_port(), free_port()
    a = launch(tmp_path, "sa", base_args(model, port_a, uds, "--num-shard", "1"), env)
    started = [a]
    try:
        wait_ready(a, port_a)
        b = launch(tmp_path, "sb", base_args(model, port_b, uds, "--num-shard", "1"), env)
        started.append(b)
        wait_ready(b, port_b)
        os.killpg(b.proc.pid, signal.SIGINT)  # the launcher's group: its children are in their own groups
        assert b.wait() == 0
        assert not Path(f"{uds}-0").exists()  # B's shard unlinked the shared path on its way out
        assert get(f"http://{HOST}:{port_a}/health")[0] == 200
        assert stream(port_a, {"prompt": prompt(3), "max_tokens": 2}).output_tokens == 2

        c = launch(tmp_path, "sc", base_args(model, port_c, tmp_path / "crash", "--num-shard", "2"), env)
        started.append(c)
        wait_ready(c, port_c)
        rank1 = [p for p in psutil.Process(c.proc.pid).children() if _env_of(p).get("RANK") == "1"]
        assert len(rank1) == 1
        rank1[0].kill()
        assert c.wait(timeout_s=30) == 1
        assert "Shard 1 crashed" in c.text() and "Error: ShardFailed" in c.text()
        assert not Path(f"{tmp_path / 'crash'}-0").exists()  # rank 0 was stopped and removed its socket
    finally:
        for launcher in started:
            launcher.stop()


def _env_of(p: psutil.Process) -> dict[str, str]:
    try:
        return p.environ()
    except (psutil.Error, OSError):
        return {}


def test_prometheus_port_taken(tmp_path: Path, model: str, cleanup: str) -> None:
    """3.3.x builds the prometheus listener on hostname:--prometheus-port (default 9000) and drops it:
    the port is only checked at startup, and a taken one crashes the router."""
    env = standin_env(cleanup)
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen(1)
        taken = holder.getsockname()[1]
        args = ["--model-id", model, "--hostname", HOST, "--port", str(free_port()),
                "--shard-uds-path", str(tmp_path / "p"), "--prometheus-port", str(taken)]  # fmt: skip
        a = launch(tmp_path, "prom", args, env)
        assert a.wait(timeout_s=30) == 1
    text = a.text()
    assert "failed to build prometheus recorder" in text and "Webserver Crashed" in text, text[-2000:]
    assert "Error: WebserverFailed" in text


def test_runner_stop_after_launcher_killed_leaves_no_shards(
    tmp_path: Path, model: str, tag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The launcher dies hard (OOM killer, SIGKILL after term_grace_s): EngineRunner.stop must still
    take its shards and router down, or they keep the GPU memory, the sockets and the ports."""
    from engines.tgi.config import TGIConfig
    from orchestrator.config.schema import EngineConfig, ModelConfig
    from orchestrator.execution.runner import EngineRunner

    for key, value in standin_env(tag).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HOSTNAME", raising=False)
    cfg = EngineConfig(name="tgi", tgi=TGIConfig(shard_uds_path=str(tmp_path / "k")))
    runner = EngineRunner(cfg, ModelConfig(), tp=1, device="cpu", work_dir=tmp_path)
    try:
        runner.start([])
        assert runner.process is not None and runner.process.pgid is not None
        (launcher,) = [
            pid
            for pid in group_members(runner.process.pgid)
            if "launcher.py" in " ".join(psutil.Process(pid).cmdline())
        ]
        os.kill(launcher, signal.SIGKILL)
        time.sleep(0.5)
    finally:
        runner.stop()
    monkeypatch.undo()
    left = wait_no_tagged(tag, timeout_s=3)
    kill_tagged(tag)
    assert not left, left


def test_stray_launcher_env_does_not_reach_tgi(
    tmp_path: Path, model: str, cleanup: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The launcher reads MAX_BATCH_SIZE (and ~50 more) as flag fallbacks: a stray one in the
    orchestrator's environment is dropped and logged; one set in engine.env reaches it."""
    from orchestrator.config.schema import EngineConfig, ModelConfig
    from orchestrator.execution.runner import EngineRunner

    for key, value in standin_env(cleanup, MAX_BATCH_SIZE="1", MAX_WAITING_TOKENS="3").items():
        monkeypatch.setenv(key, value)
    cfg = EngineConfig(name="tgi", env={"MAX_WAITING_TOKENS": "7"})
    runner = EngineRunner(cfg, ModelConfig(), tp=1, device="cpu", work_dir=tmp_path)
    try:
        info = runner.start([])
        log = runner.log_text()
    finally:
        runner.stop()
    assert "MAX_BATCH_SIZE" in info["env_dropped"] and "MAX_WAITING_TOKENS" not in info["env_dropped"]
    assert "not passed to tgi from this environment" in log and "MAX_BATCH_SIZE" in log.splitlines()[0]
    assert "    max_batch_size: None," in log  # the launcher's Args: no stray value
    assert "    max_waiting_tokens: 7," in log  # engine.env: the user's


def test_another_client_on_the_engine_is_flagged(
    tmp_path: Path, model: str, cleanup: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests the client did not send, finished by the engine inside the point's window (another
    client on the same engine), qualify the point as foreign_requests: read from TGI's own counters."""
    from engines.telemetry import PointTelemetry
    from orchestrator.config.schema import EngineConfig, ModelConfig
    from orchestrator.core.load import LoadSpec
    from orchestrator.core.status import Status
    from orchestrator.core.trial import Trial
    from orchestrator.core.validity import FlagKind
    from orchestrator.execution.runner import EngineRunner

    for key, value in standin_env(cleanup).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HOSTNAME", raising=False)
    runner = EngineRunner(EngineConfig(name="tgi"), ModelConfig(), tp=1, device="cpu", work_dir=tmp_path)
    point = LoadSpec(concurrency=2, input_len=8, output_len=4, num_requests=6, warmup_requests=1,
                     ignore_eos=True, temperature=0.0, timeout_s=10.0)  # fmt: skip
    start = PointTelemetry.start

    def start_then_another_client(self: PointTelemetry) -> None:
        start(self)  # the counters before the point are read: now 5 requests from someone else
        assert runner.spec is not None
        for _ in range(5):
            body = {"inputs": prompt(8), "parameters": {"max_new_tokens": 4}}
            assert post(f"{runner.spec.base_url}/generate", body)[0] == 200

    try:
        runner.start([])
        clean = runner.run_point(Trial("t-clean", "g", 1, runner.engine_cfg, ModelConfig(), point))
        monkeypatch.setattr(PointTelemetry, "start", start_then_another_client)
        shared = runner.run_point(Trial("t-shared", "g", 1, runner.engine_cfg, ModelConfig(), point))
    finally:
        runner.stop()
    assert clean.status is Status.DONE and clean.flags == [], clean.flags
    assert clean.metrics["engine_requests_finished"] == clean.metrics["client_requests_sent"] == 7
    assert shared.status is Status.DONE and [f.kind for f in shared.flags] == [FlagKind.FOREIGN_REQUESTS]
    assert "the engine finished 12 requests during the point, the client sent 7" in shared.flags[0].reason


def test_a_taken_port_fails_the_bind_and_the_actor_starts_again(
    tmp_path: Path, model: str, cleanup: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The port the runner chose is taken before the launcher binds it: the router fails to bind
    (``Failed to bind to``, WebserverFailed), the start fails as port_in_use, and the actor's start
    (start_runner) brings the engine up again on fresh ports."""
    import orchestrator.execution.runner as runner_mod
    from orchestrator.config.schema import EngineConfig, ModelConfig
    from orchestrator.core.errors import EngineError
    from orchestrator.core.status import FailureReason
    from orchestrator.execution.actor import start_runner

    for key, value in standin_env(cleanup).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HOSTNAME", raising=False)
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen(1)
        taken = holder.getsockname()[1]
        monkeypatch.setattr(runner_mod, "free_port", lambda host=HOST: taken)
        first = runner_mod.EngineRunner(EngineConfig(name="tgi"), ModelConfig(), tp=1, device="cpu",
                                        work_dir=tmp_path / "first")  # fmt: skip
        try:
            with pytest.raises(EngineError) as err:
                first.start([])
        finally:
            first.stop()
        assert err.value.reason is FailureReason.PORT_IN_USE, str(err.value)[-2000:]
        ports = iter([taken])
        monkeypatch.setattr(runner_mod, "free_port", lambda host=HOST: next(ports, None) or free_port(host))
        again = runner_mod.EngineRunner(EngineConfig(name="tgi"), ModelConfig(), tp=1, device="cpu",
                                        work_dir=tmp_path / "again")  # fmt: skip
        try:
            info = start_runner(again, [], None)
            assert info["base_url"] != f"http://{HOST}:{taken}"
            assert info["port_listener"] is not None and [w["rank"] for w in info["workers"]] == [0]
        finally:
            again.stop()
    assert "start 1 failed, port_in_use (" in again.log_text()
