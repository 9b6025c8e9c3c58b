"""FlexGen: the log parser on seed 000's numbers, the command line, and validation."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import pytest

from engines.base import BatchSpec
from engines.flexgen.config import FlexGenConfig
from engines.flexgen.engine import FlexGenEngine, validate
from engines.flexgen.log import parse_flexgen_log
from engines.process import classify_failure
from engines.registry import get_engine
from orchestrator.config.schema import EngineConfig, ExperimentConfig, ModelConfig
from orchestrator.core.errors import ConfigError
from orchestrator.core.trial import Trial
from orchestrator.sweep.grid import expand

# Seed 000, diagonal schedule, --num-gpu-batches 8, in FlexGen's write_benchmark_log format (tabs).
DIAGONAL_8 = (
    "TorchDevice: cuda:0\n  cur_mem: 2.4430 GB, peak_mem: 9.1720 GB\n"
    "TorchDevice: cpu\n  cur_mem: 0.0000 GB, peak_mem: 0.0000 GB\n"
    "model size: 2.443 GB\tcache size: 6.375 GB\thidden size (p): 0.133 GB\n"
    "peak gpu mem: 9.172 GB\tprojected: True\n"
    "prefill latency: 0.958 s\tprefill throughput: 34214.002 token/s\n"
    "decode latency: 2.670 s\tdecode throughput: 743.176 token/s\n"
    "total latency: 3.627 s\ttotal throughput: 564.598 token/s\n"
)
# Seed 000, original schedule, --num-gpu-batches 32 (as pasted in the seed: no model-size line).
ORIGIN_32 = """--num-gpu-batches 32
peak gpu mem: 28.987 GB projected: True
prefill latency: 5.140 s        prefill throughput: 25500.405 token/s
decode latency: 16.068 s        decode throughput: 493.898 token/s
total latency: 21.208 s total throughput: 386.268 token/s
"""
OOM = """Traceback (most recent call last):
  File "flexgen/flex_opt.py", line 1311, in <module>
    run_flexgen(args)
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 4.00 GiB. GPU 0 has a total capacity
"""


def test_parse_diagonal_log() -> None:
    assert parse_flexgen_log(DIAGONAL_8) == {
        "model_size_gb": 2.443, "cache_size_gb": 6.375, "hidden_size_gb": 0.133, "peak_gpu_mem_gb": 9.172,
        "prefill_latency_s": 0.958, "prefill_throughput_tok_s": 34214.002, "decode_latency_s": 2.670,
        "decode_throughput_tok_s": 743.176, "total_latency_s": 3.627, "total_throughput_tok_s": 564.598,
        "projected": 1.0, "torch_peak_mem_gb": 9.172,
    }  # fmt: skip


def test_parse_seed_pasted_log_without_sizes() -> None:
    m = parse_flexgen_log(ORIGIN_32)
    assert (m["total_latency_s"], m["total_throughput_tok_s"], m["peak_gpu_mem_gb"]) == (
        21.208,
        386.268,
        28.987,
    )
    assert "model_size_gb" not in m  # absent, never 0


def test_oom_and_missing_results_raise() -> None:
    with pytest.raises(ValueError, match="out of memory"):
        parse_flexgen_log("model size: 2.443 GB\n" + OOM)
    assert classify_failure(OOM, 1) == "oom"
    with pytest.raises(ValueError, match="no total_latency_s"):
        parse_flexgen_log("starting...\n")


def trial_and_spec(tmp_path: Path, **flexgen: Any) -> tuple[EngineConfig, Trial, BatchSpec]:
    cfg = ExperimentConfig()
    cfg.engine = EngineConfig(name="flexgen", tp=[1], flexgen=dataclasses.replace(FlexGenConfig(), **flexgen))
    cfg.model = ModelConfig(name="opt-6.7b", path="facebook/opt-6.7b", max_model_len=2048)
    cfg.workload.concurrency, cfg.workload.input_len, cfg.workload.output_len = [1], [512], [32]
    trial = expand(cfg)[0]
    return cfg.engine, trial, BatchSpec("facebook/opt-6.7b", 1, "gpu", tmp_path, ("3",))


def test_command_line(tmp_path: Path) -> None:
    engine = get_engine("flexgen")
    assert isinstance(engine, FlexGenEngine)
    cfg, trial, spec = trial_and_spec(
        tmp_path, num_gpu_batches=8, percent=[100, 0, 100, 0, 100, 0], path="/w", offload_dir="/o",
        cut_gen_len=8, debug_mode="fewer_batch", pin_weight=False, overlap=True, compress_cache=True,
    )  # fmt: skip
    argv = engine.trial_command(cfg, trial.model, trial, spec)  # type: ignore[attr-defined]
    assert argv == [
        sys.executable, "-m", "flexgen.flex_opt", "--model", "facebook/opt-6.7b", "--prompt-len", "512",
        "--gen-len", "32", "--gpu-batch-size", "4", "--num-gpu-batches", "8",
        "--percent", "100", "0", "100", "0", "100", "0", "--path", "/w", "--offload-dir", "/o",
        "--cut-gen-len", "8", "--debug-mode", "fewer_batch", "--pin-weight", "False", "--overlap", "True",
        "--compress-cache",
    ]  # fmt: skip
    assert engine.env(cfg, spec)["CUDA_VISIBLE_DEVICES"] == "3"


def test_diagonal_variant_as_command(tmp_path: Path) -> None:
    cfg, trial, spec = trial_and_spec(
        tmp_path, command="python3 /opt/flexgen/flex_opt_diag.py", model="opt-1.3b"
    )
    argv = FlexGenEngine().trial_command(cfg, trial.model, trial, spec)  # type: ignore[arg-type]
    assert argv[:4] == ["python3", "/opt/flexgen/flex_opt_diag.py", "--model", "opt-1.3b"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"percent": [100, 0, 100]}, "engine.flexgen.percent"),
        ({"percent": [60, 60, 100, 0, 100, 0]}, "engine.flexgen.percent"),
        ({"num_gpu_batches": 0}, "engine.flexgen.num_gpu_batches"),
        ({"gpu_batch_size": 0}, "engine.flexgen.gpu_batch_size"),
        ({"debug_mode": "verbose"}, "engine.flexgen.debug_mode"),
        ({"attn_sparsity": 1.5}, "engine.flexgen.attn_sparsity"),
        ({"module": "", "command": None}, "engine.flexgen.module"),
    ],
)
def test_validate_names_the_field(changes: dict[str, Any], field: str) -> None:
    cfg = EngineConfig(name="flexgen", flexgen=dataclasses.replace(FlexGenConfig(), **changes))
    with pytest.raises(ConfigError) as err:
        validate(cfg, ModelConfig(path="facebook/opt-6.7b"))
    assert err.value.field == field


def test_tiny_model_needs_a_flexgen_model() -> None:
    with pytest.raises(ConfigError) as err:
        validate(EngineConfig(name="flexgen"), ModelConfig())
    assert err.value.field == "engine.flexgen.model"


def test_preset_cuts_gen_len_as_the_seed_did() -> None:
    """seed 000's logs all say ``projected: True``: FlexGen's bench suite sets cut_gen_len=8."""
    from orchestrator.config.store import load_experiment

    cfg = load_experiment(["+exp=flexgen_diagonal"])
    assert cfg.engine.flexgen.cut_gen_len == 8
    trial = expand(cfg)[0]
    spec = BatchSpec("facebook/opt-1.3b", 1, "gpu", Path("/tmp"), ())
    argv = FlexGenEngine().trial_command(trial.engine, trial.model, trial, spec)
    i = argv.index("--cut-gen-len")
    assert argv[i + 1] == "8" and argv[argv.index("--gen-len") + 1] == "32"


@pytest.mark.parametrize(("extra", "projected"), [([], 0.0), (["--cut-gen-len", "8"], 1.0),
                                                  (["--debug-mode", "fewer_batch"], 1.0)])  # fmt: skip
def test_standin_projects_like_flex_opt(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], extra: list[str], projected: float
) -> None:
    """The stand-in follows flex_opt.py: ``projected = bool(args.debug_mode or cut_gen_len)``."""
    from engines.standins import fake_flex_opt

    argv = ["flex_opt", "--model", "facebook/opt-1.3b", "--prompt-len", "128", "--gen-len", "32", *extra]
    monkeypatch.setattr(sys, "argv", argv)
    assert fake_flex_opt.main() == 0
    log = capsys.readouterr().out
    assert parse_flexgen_log(log)["projected"] == projected
    assert FlexGenEngine().version(log) == fake_flex_opt.VERSION


def test_version_printed_installed_or_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    from engines.flexgen.log import flexgen_version

    assert flexgen_version("flexgen version: 0.1.7\n") == "0.1.7"

    def installed(name: str) -> str:
        assert name == "flexgen"
        return "0.1.6"

    monkeypatch.setattr(importlib.metadata, "version", installed)
    assert flexgen_version("no version line") == "0.1.6"

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert flexgen_version("") == "unknown"
