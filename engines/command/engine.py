"""The ``command`` engine: any user command per trial, the escape hatch for engines the tool does not know.

``engine.command`` is a template formatted with the trial's parameters, e.g.
``python bench.py --tp {tp} --batch {concurrency} --out {metrics_file}``. The command runs once per
trial with ``CUDA_VISIBLE_DEVICES`` set to the GPUs Ray assigned, and writes JSON lines to
``{metrics_file}`` (also in ``$ORCH_METRICS_FILE``): numeric fields become the trial's metrics (a
later line overrides an earlier one). A non-zero exit or no metrics makes the trial FAILED.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from engines.base import BatchDefaults, BatchSpec
from engines.registry import register
from orchestrator.config.schema import EngineConfig, ModelConfig
from orchestrator.core.errors import ConfigError
from orchestrator.core.trial import Trial

TEMPLATE_KEYS = (
    "python", "trial_id", "tp", "gpu_ids", "model_path", "model_name", "work_dir", "metrics_file",
    "concurrency", "input_len", "output_len", "num_requests",
)  # fmt: skip


def template_values(trial: Trial, spec: BatchSpec) -> dict[str, object]:
    p = trial.point
    return {
        "python": sys.executable,
        "trial_id": trial.trial_id,
        "tp": trial.tp,
        "gpu_ids": ",".join(spec.gpu_ids),
        "model_path": spec.model_path,
        "model_name": trial.model.name,
        "work_dir": str(spec.work_dir),
        "metrics_file": str(spec.metrics_path),
        "concurrency": p.concurrency,
        "input_len": p.input_len,
        "output_len": p.output_len,
        "num_requests": p.num_requests,
    }


def render(template: str | None, values: dict[str, object]) -> list[str]:
    """Format the template and split it like a shell would; ConfigError names engine.command."""
    if not template or not template.strip():
        raise ConfigError("engine.command", "the command engine needs a command template, e.g. "
                          "engine.command='{python} bench.py --tp {tp} --out {metrics_file}'")  # fmt: skip
    try:
        return shlex.split(template.format(**values))
    except KeyError as exc:
        raise ConfigError("engine.command", f"unknown placeholder {{{exc.args[0]}}}", TEMPLATE_KEYS) from exc
    except (ValueError, IndexError) as exc:
        raise ConfigError("engine.command", f"cannot format the template: {exc}") from exc


def check_template(template: str | None) -> None:
    """Validate the template before anything starts (placeholders and quoting)."""
    render(template, dict.fromkeys(TEMPLATE_KEYS, "x"))


def read_metrics(path: Path) -> dict[str, float]:
    """Numeric fields of the JSON-lines metrics file; ValueError if there are none."""
    if not path.exists():
        raise ValueError(f"the command wrote no metrics file ({path})")
    metrics: dict[str, float] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path.name} line {n} is not JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise ValueError(f"{path.name} line {n} is not a JSON object")
        for k, v in obj.items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                metrics[str(k)] = float(v)
    if not metrics:
        raise ValueError(f"{path.name} holds no numeric metrics")
    return metrics


class CommandEngine(BatchDefaults):
    name = "command"

    def validate(self, cfg: EngineConfig, model: ModelConfig) -> None:
        check_template(cfg.command)

    def trial_command(
        self, cfg: EngineConfig, model: ModelConfig, trial: Trial, spec: BatchSpec
    ) -> list[str]:
        return render(cfg.command, template_values(trial, spec))

    def env(self, cfg: EngineConfig, spec: BatchSpec) -> dict[str, str]:
        env = {"ORCH_METRICS_FILE": str(spec.metrics_path), "ORCH_WORK_DIR": str(spec.work_dir)}
        if spec.gpu_ids:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(spec.gpu_ids)
        env.update(cfg.env)
        return env

    def parse_metrics(self, trial: Trial, spec: BatchSpec, log_text: str) -> dict[str, float]:
        return read_metrics(spec.metrics_path)


register(CommandEngine.name, CommandEngine)
