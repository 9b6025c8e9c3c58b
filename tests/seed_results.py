"""The seeds' own figures (tests/fixtures/seeds/*.md, copied from shared/seeds/) as results stores.

Each ``*_store`` function expands the seed's preset into its real trials (the same ids a run would
have), gives each the seed's numbers as metrics and writes them with the real ResultsStore.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from engines.registry import registry
from orchestrator.config.store import load_experiment
from orchestrator.core.results import TrialResult
from orchestrator.core.status import FailureReason, Status
from orchestrator.core.trial import Trial
from orchestrator.store.results import ResultsStore
from orchestrator.sweep.grid import expand
from orchestrator.sweep.multi_engine import engine_configs
from orchestrator.sweep.placement import planned_nodes
from tests.helpers import parse_markdown_table

SEEDS = Path(__file__).resolve().parent / "fixtures" / "seeds"
Row = list[str]


def seed_text(n: str) -> str:
    return (SEEDS / f"seed_{n}.md").read_text()


def tables(text: str) -> list[list[Row]]:
    """Every Markdown table of ``text``, as data rows (header row dropped)."""
    blocks, cur = [], []
    for line in [*text.splitlines(), ""]:
        if line.strip().startswith("|"):
            cur.append(line)
        elif cur:
            blocks.append(parse_markdown_table("\n".join(cur)))
            cur = []
    return blocks


@functools.cache
def trials_of(preset: str) -> list[Trial]:
    cfg = load_experiment([f"+exp={preset}"])
    configs = engine_configs(cfg, [f"+exp={preset}"], registry().keys(), planned_nodes(cfg.resources))
    return [t for c in configs for t in expand(c)]


def number(cell: str) -> float:
    return float(cell.split()[0])


# ---- seed 001: TGI TP sweep -------------------------------------------------------------------
LAT_KEYS = {"Prefill": "prefill_latency", "Decode (token)": "decode_token_latency",
            "Decode (total)": "decode_total_latency"}  # fmt: skip
THR_KEYS = {"Prefill": "prefill_throughput", "Decode": "decode_throughput"}
STATS = ("avg", "min", "max", "p50", "p90", "p99")


def seed_001() -> dict[int, tuple[list[Row], list[Row]]]:
    """TP → (latency rows, throughput rows) with the step carried into blank cells."""
    text = seed_text("001")
    out = {}
    for part in re.split(r"^# Tensor Parallel \(TP\) - ", text, flags=re.M)[1:]:
        tp = int(part.split()[0])
        lat, thr = tables(part)[:2]
        for rows in (lat, thr):
            for prev, row in zip([None, *rows], rows, strict=False):
                if not row[0] and prev is not None:
                    row[0] = prev[0]
        out[tp] = (lat, thr)
    return out


def tgi_store(root: Path) -> ResultsStore:
    seed = seed_001()
    store = ResultsStore(root, "seed-001")
    store.init_sweep({"sweep_id": "seed-001", "name": "tgi_tp_sweep"})
    for t in trials_of("tgi_tp_sweep"):
        lat, thr = seed[t.tp]
        b = str(t.point.batch_size)
        metrics: dict[str, float] = {}
        for row in (r for r in lat if r[1] == b):
            key = LAT_KEYS[row[0]]
            metrics.update({f"{key}_{s}_ms": number(c) for s, c in zip(STATS, row[2:], strict=True)})
        for row in (r for r in thr if r[1] == b):
            key = THR_KEYS[row[0]]
            metrics.update({f"{key}_{s}": number(c) for s, c in zip(STATS, row[2:], strict=False)})
        store.write(t, TrialResult(t.trial_id, Status.DONE, metrics=metrics))
    return store


# ---- seeds 003 / 004: vLLM (vs TGI) input x output grid --------------------------------------
GRID_KEYS = ("request_throughput", "output_token_throughput", "latency_per_token_avg_ms",
             "latency_per_output_token_avg_ms")  # fmt: skip


def seed_grid(n: str) -> dict[str, dict[tuple[int, int], list[float]]]:
    """engine → (input, output) → the four seed columns."""
    text = seed_text(n)
    out: dict[str, dict[tuple[int, int], list[float]]] = {}
    for part in re.split(r"^#+ (vllm|tgi) v?[\d.]+\s*$", text, flags=re.M)[1:]:
        if part in ("vllm", "tgi"):
            engine = part
            continue
        rows = tables(part)[0]
        out[engine] = {(int(r[0]), int(r[1])): [float(c) for c in r[2:]] for r in rows}
    return out


def grid_store(root: Path, n: str, preset: str) -> ResultsStore:
    seed = seed_grid(n)
    store = ResultsStore(root, f"seed-{n}")
    store.init_sweep({"sweep_id": f"seed-{n}", "name": preset})
    for t in trials_of(preset):
        values = seed.get(t.engine.name, {}).get((t.point.input_len, t.point.output_len))
        if values is not None:  # seed 004 has no 2048 x 2048 row
            metrics = dict(zip(GRID_KEYS, values, strict=True))
            store.write(t, TrialResult(t.trial_id, Status.DONE, metrics=metrics))
    return store


# ---- seed 000: FlexGen original vs diagonal --------------------------------------------------
FLEX_KEYS = ("total_latency_s", "total_throughput_tok_s", "peak_gpu_mem_gb")


def seed_000() -> tuple[dict[tuple[str, int, int], list[float]], dict[tuple[int, int], Row]]:
    """(schedule, num batches, prompt) → latency, throughput, peak mem; and the Compare Scale rows."""
    text = seed_text("000")
    prompt_part = text.split("### Different Prompt length", 1)[1]
    grid_rows, compare_rows = tables(prompt_part)[:2]
    grid = {}
    for r in grid_rows:
        if not r[0]:
            continue  # the seed's second header row
        nb, prompt = int(r[0]), int(r[1])
        grid[("origin", nb, prompt)] = [float(c) for c in r[2:5]]
        grid[("diagonal", nb, prompt)] = [float(c) for c in r[5:8]]
    return grid, {(int(r[0]), int(r[1])): r[2:] for r in compare_rows}


def flexgen_store(root: Path) -> ResultsStore:
    grid, _ = seed_000()
    store = ResultsStore(root, "seed-000")
    store.init_sweep({"sweep_id": "seed-000", "name": "flexgen_diagonal"})
    for t in trials_of("flexgen_diagonal"):
        sched = "diagonal" if "diag" in t.engine.flexgen.module else "origin"
        values = grid[(sched, t.engine.flexgen.num_gpu_batches, t.point.input_len)]
        if not any(values):  # the seed writes 0 where the run ran out of memory
            result = TrialResult(t.trial_id, Status.FAILED, FailureReason.OOM, "CUDA out of memory")
        else:
            metrics = {**dict(zip(FLEX_KEYS, values, strict=True)), "projected": 1.0}  # every seed log
            result = TrialResult(t.trial_id, Status.DONE, metrics=metrics)
        store.write(t, result)
    return store
