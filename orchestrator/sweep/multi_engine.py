"""Several engines in one sweep (seed 003: vLLM vs TGI): one composed config per listed engine.

``engines: [vllm, tgi]`` names options of the ``engine`` config group; each is composed like the
command line plus ``engine=<name>`` and the preset's ``engine_overrides[<name>]`` (Hydra override
strings, applied before the command line's own), validated on its own, and expanded into trials
that the app concatenates into one sweep. Trial ids hash each trial's resolved engine config, so
they differ by engine and do not change for single-engine sweeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from orchestrator.config.schema import ExperimentConfig
from orchestrator.config.store import group_options, load_experiment
from orchestrator.core.errors import ConfigError
from orchestrator.sweep.checks import validate
from orchestrator.sweep.placement import NodeSpec


def engine_overrides(cfg: ExperimentConfig, overrides: Sequence[str]) -> dict[str, list[str]]:
    """The Hydra overrides that compose each listed engine's config (checked, in ``engines`` order)."""
    known = group_options("engine")
    for name in cfg.engines:
        if name not in known:
            raise ConfigError("engines", f"unknown engine option '{name}'", known)
    for key in cfg.engine_overrides:
        if key not in cfg.engines:
            raise ConfigError(f"engine_overrides.{key}", "names an engine not listed in engines", cfg.engines)
    if any(o.lstrip("+~").startswith("engine=") for o in overrides):
        raise ConfigError("engine", "is chosen per entry of `engines`; override `engines=[...]` instead")
    return {
        name: [f"engine={name}", *cfg.engine_overrides.get(name, []), *overrides]
        for name in dict.fromkeys(cfg.engines)
    }


def engine_configs(
    cfg: ExperimentConfig, overrides: Sequence[str], engine_names: Iterable[str], nodes: Sequence[NodeSpec]
) -> list[ExperimentConfig]:
    """``[cfg]`` validated, or with ``cfg.engines`` one validated config per engine.

    A bad value in one engine's config raises ConfigError naming the field and the engine.
    """
    names = list(engine_names)
    if not cfg.engines:
        validate(cfg, names, nodes)
        return [cfg]
    configs = []
    for name, args in engine_overrides(cfg, overrides).items():
        try:
            sub = load_experiment(args)
            sub.engines, sub.engine_overrides, sub.dry_run = [], {}, cfg.dry_run
            validate(sub, names, nodes)
        except ConfigError as exc:
            detail = str(exc).removeprefix(f"{exc.field}: ")
            raise ConfigError(exc.field, f"{detail} [in the config composed for engines: {name}]") from exc
        configs.append(sub)
    return configs
