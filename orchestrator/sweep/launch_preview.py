"""``--dry-run``'s launch commands (pure): what each engine instance's ``command()`` would run.

Ports, side channels, GPUs, CPU cores and scratch paths are chosen on the node when the instance
starts, so they are shown as placeholders (``<port>``, ``<master-port>``, ``<scratch>``, ``<gpu0>``,
``<cores-rank0>``); the
engine's own env vars (not the offline defaults) prefix the command; secrets are redacted.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import cast

from engines.base import OFFLINE_ENV, BatchEngine, BatchSpec, Engine, LaunchSpec, binds_cores, is_batch
from engines.registry import get_engine
from engines.side_channels import SIDE_PORTS, SideChannels
from orchestrator.config.schema import ExperimentConfig
from orchestrator.core.trial import Trial
from orchestrator.store.redact import Redactor
from orchestrator.sweep.grid import group_by_engine

PORT = 61871  # sentinels replaced by placeholders in the joined command line
SIDE = tuple(range(61872, 61872 + SIDE_PORTS))
SIDE_NAMES = {"tgi": ("<master-port>", "<prometheus-port>"), "vllm": ("<vllm-port>", "<side-port>")}
SCRATCH, MODEL, WORK_DIR = "/orchph-scratch", "/orchph-tiny-model", "/orchph-work-dir"
GPU = "orchphgpu"
CORES = 61900  # rank i's cores: CORES + i


def _placeholders(engine: str, tp: int) -> dict[str, str]:
    names = SIDE_NAMES.get(engine, tuple(f"<side-port-{i}>" for i in range(1, SIDE_PORTS + 1)))
    out = {str(PORT): "<port>", SCRATCH: "<scratch>", MODEL: "<tiny-model>", WORK_DIR: "<work-dir>"}
    out.update({str(p): n for p, n in zip(SIDE, names, strict=False)})
    out.update({f"{GPU}{i}": f"<gpu{i}>" for i in reversed(range(tp))})  # <gpu10> before <gpu1>
    out.update({str(CORES + i): f"<cores-rank{i}>" for i in range(tp)})
    return out


def _line(argv: Sequence[str], env: dict[str, str], redact: Redactor, marks: dict[str, str]) -> str:
    extra = {k: v for k, v in env.items() if OFFLINE_ENV.get(k) != v}
    shown_env = cast(dict[str, str], redact.obj(extra))
    text = shlex.join([*(f"{k}={v}" for k, v in shown_env.items()), *redact.obj(list(argv))])
    for sentinel, name in marks.items():
        text = text.replace(sentinel, name)
    return text


def launch_commands(cfg: ExperimentConfig, trials: Sequence[Trial]) -> list[tuple[str, str]]:
    """(label, command line) per engine instance (per trial for batch engines), in trial order."""
    redact = Redactor.for_config(asdict(cfg), env=cfg.engine.env)
    out = []
    device = cfg.resources.device
    for group in group_by_engine(trials).values():
        first = group[0]
        engine = get_engine(first.engine.name)
        model_path = MODEL if first.model.path == "tiny" else first.model.path
        gpus = tuple(f"{GPU}{i}" for i in range(first.tp)) if device == "gpu" else ()
        marks = _placeholders(engine.name, first.tp)
        tp = first.tp
        if is_batch(engine):
            batch = cast(BatchEngine, engine)
            spec = BatchSpec(model_path, tp, device, Path(WORK_DIR), gpus)
            for trial in group:
                argv = batch.trial_command(trial.engine, trial.model, trial, spec)
                out.append((trial.name, _line(argv, batch.env(trial.engine, spec), redact, marks)))
            continue
        server = cast(Engine, engine)
        cores = tuple((CORES + i,) for i in range(tp)) if binds_cores(engine, device) else ()
        launch = LaunchSpec(model_path=model_path, served_name=first.model.name,
                            tp=tp, host="127.0.0.1", port=PORT, device=device, gpu_ids=gpus,
                            side=SideChannels(SIDE, SCRATCH), cpu_ranks=cores)  # fmt: skip
        argv = server.command(first.engine, first.model, launch)
        label = f"{engine.name} tp={first.tp} instance {first.group_id} ({len(group)} trial(s))"
        out.append((label, _line(argv, server.env(first.engine, launch), redact, marks)))
    return out
