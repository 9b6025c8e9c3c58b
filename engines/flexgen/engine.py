"""FlexGen (seed 000): a batch engine, one ``python -m flexgen.flex_opt`` run per trial.

The prompt and generation lengths come from the workload point (``--prompt-len`` / ``--gen-len``);
model, batch shape and offloading from ``engine.flexgen`` (sweep them with ``engine.sweep``,
e.g. ``{flexgen.num_gpu_batches: [4, 8, 16, 32]}``). The diagonal-schedule variant is another
module (``engine.flexgen.module``) or command prefix (``engine.flexgen.command``) taking the same
flags. Metrics are parsed from the benchmark log FlexGen prints (``flexgen.utils.write_benchmark_log``)::

    model size: 2.443 GB	cache size: 3.188 GB	hidden size (p): 0.066 GB
    peak gpu mem: 6.086 GB	projected: True
    prefill latency: 0.319 s	prefill throughput: 51432.869 token/s
    decode latency: 1.748 s	decode throughput: 567.437 token/s
    total latency: 2.067 s	total throughput: 495.461 token/s

``projected: True`` means FlexGen extrapolated: with ``--cut-gen-len N`` (seed 000's bench suite
sets ``cut_gen_len=8``) it generates N tokens and projects the decode latency to ``--gen-len``
(``flex_opt.py``: ``projected = bool(args.debug_mode or cut_gen_len)``); the report shows it.
The engine version is what the run printed (``flexgen version: X``, e.g. a stand-in), else the
installed ``flexgen`` distribution's, else ``unknown``.

A CUDA OOM makes the trial FAILED(oom) (see ``engines.process.classify_failure``), never zeros.
"""

from __future__ import annotations

import shlex
import sys

from engines.base import BatchDefaults, BatchSpec
from engines.catalog import options
from engines.flexgen.config import FlexGenConfig
from engines.flexgen.log import flexgen_version, parse_flexgen_log
from engines.registry import register
from orchestrator.config.schema import EngineConfig, ModelConfig
from orchestrator.core.errors import ConfigError
from orchestrator.core.trial import Trial

DEBUG_MODES = ("fewer_batch", "breakdown")


def flag_args(f: FlexGenConfig) -> list[str]:
    """The ``flex_opt`` flags from the typed options (None → FlexGen's default, flag omitted)."""
    args = ["--gpu-batch-size", str(f.gpu_batch_size), "--num-gpu-batches", str(f.num_gpu_batches),
            "--percent", *map(str, f.percent)]  # fmt: skip
    if f.path:
        args += ["--path", f.path]
    if f.offload_dir:
        args += ["--offload-dir", f.offload_dir]
    if f.cut_gen_len is not None:
        args += ["--cut-gen-len", str(f.cut_gen_len)]
    if f.debug_mode:
        args += ["--debug-mode", f.debug_mode]
    for name, flag in (
        ("pin_weight", "--pin-weight"),
        ("overlap", "--overlap"),
        ("sep_layer", "--sep-layer"),
    ):
        value = getattr(f, name)
        if value is not None:
            args += [flag, str(bool(value))]  # str2bool flags
    for name, flag in (("cpu_cache_compute", "--cpu-cache-compute"), ("compress_weight", "--compress-weight"),
                       ("compress_cache", "--compress-cache")):  # fmt: skip
        if getattr(f, name):
            args.append(flag)
    if f.attn_sparsity is not None:
        args += ["--attn-sparsity", str(f.attn_sparsity)]
    return args


def validate(engine: EngineConfig, model: ModelConfig) -> None:
    """ConfigError naming ``engine.flexgen.<field>`` for a bad FlexGen option."""
    f = options(engine, FlexGenConfig)
    if len(f.percent) != 6 or any(not 0 <= p <= 100 for p in f.percent):
        raise ConfigError("engine.flexgen.percent", f"needs 6 values within 0..100 (w_gpu w_cpu c_gpu c_cpu "
                          f"a_gpu a_cpu), got {f.percent}")  # fmt: skip
    for i, what in enumerate(("weights", "cache", "activations")):
        if f.percent[2 * i] + f.percent[2 * i + 1] > 100:
            raise ConfigError(
                "engine.flexgen.percent", f"{what}: gpu + cpu percent exceeds 100 in {f.percent}"
            )
    for name in ("gpu_batch_size", "num_gpu_batches"):
        if getattr(f, name) < 1:
            raise ConfigError(f"engine.flexgen.{name}", f"must be >= 1, got {getattr(f, name)}")
    if f.cut_gen_len is not None and f.cut_gen_len < 1:
        raise ConfigError("engine.flexgen.cut_gen_len", f"must be >= 1, got {f.cut_gen_len}")
    if f.debug_mode is not None and f.debug_mode not in DEBUG_MODES:
        raise ConfigError("engine.flexgen.debug_mode", f"unknown value '{f.debug_mode}'", DEBUG_MODES)
    if f.attn_sparsity is not None and not 0 < f.attn_sparsity <= 1:
        raise ConfigError("engine.flexgen.attn_sparsity", f"must be within (0, 1], got {f.attn_sparsity}")
    if not f.module and not f.command:
        raise ConfigError(
            "engine.flexgen.module", "set a module (flexgen.flex_opt) or engine.flexgen.command"
        )
    if f.command is not None and not shlex.split(f.command):
        raise ConfigError("engine.flexgen.command", "is empty")
    if f.model is None and model.path == "tiny":
        raise ConfigError("engine.flexgen.model", "FlexGen runs OPT models by name: set engine.flexgen.model "
                          "(e.g. facebook/opt-6.7b) or model.path")  # fmt: skip


class FlexGenEngine(BatchDefaults):
    name = "flexgen"

    def validate(self, cfg: EngineConfig, model: ModelConfig) -> None:
        validate(cfg, model)

    def trial_command(
        self, cfg: EngineConfig, model: ModelConfig, trial: Trial, spec: BatchSpec
    ) -> list[str]:
        f = options(cfg, FlexGenConfig)
        prefix = shlex.split(f.command) if f.command else [sys.executable, "-m", f.module]
        p = trial.point
        return [*prefix, "--model", f.model or spec.model_path, "--prompt-len", str(p.input_len),
                "--gen-len", str(p.output_len), *flag_args(f), *cfg.extra_args]  # fmt: skip

    def env(self, cfg: EngineConfig, spec: BatchSpec) -> dict[str, str]:
        env = {"PYTHONUNBUFFERED": "1"}
        if spec.gpu_ids:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(spec.gpu_ids)
        env.update(cfg.env)
        return env

    def parse_metrics(self, trial: Trial, spec: BatchSpec, log_text: str) -> dict[str, float]:
        return parse_flexgen_log(log_text)

    def version(self, log_text: str) -> str:
        return flexgen_version(log_text)


register(FlexGenEngine.name, FlexGenEngine)
