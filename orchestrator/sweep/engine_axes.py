"""Engine-option sweep axes (``engine.sweep``), pure: expand them into resolved EngineConfigs.

``engine.sweep`` maps a dotted path under ``engine`` (``max_num_seqs``, ``flexgen.num_gpu_batches``,
``tgi.max_batch_total_tokens``) to a list of values; each combination becomes one engine variant
whose resolved config holds the value (so it is part of the trial id) and an empty ``sweep``.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from orchestrator.config.schema import EngineConfig
from orchestrator.core.errors import ConfigError
from orchestrator.core.trial import Axes

NOT_SWEEPABLE = ("name", "tp", "sweep", "reuse")  # tp has its own axis (engine.tp)


def check_path(path: str) -> None:
    """ConfigError naming ``engine.sweep.<path>`` when it is not a scalar option of EngineConfig."""
    node: Any = EngineConfig()
    parts = path.split(".")
    for i, part in enumerate(parts):
        fields = {f.name for f in dataclasses.fields(node)}
        if part not in fields or (i == 0 and part in NOT_SWEEPABLE):
            allowed = sorted(fields - set(NOT_SWEEPABLE)) if i == 0 else sorted(fields)
            raise ConfigError(f"engine.sweep.{path}", f"'{part}' is not a sweepable engine option", allowed)
        node = getattr(node, part)
    if dataclasses.is_dataclass(node):
        raise ConfigError(f"engine.sweep.{path}", "names an option group; name one of its fields")


def set_option(engine: EngineConfig, field: str, path: str, value: Any) -> EngineConfig:
    """``engine`` with the dotted ``path`` set to ``value``, type-checked as Hydra would (``'64'``
    → 64); a value of the wrong type is a ConfigError naming ``field``."""
    node = OmegaConf.structured(engine)
    try:
        OmegaConf.update(node, path, value, merge=False)
        out = OmegaConf.to_object(node)
    except (OmegaConfBaseException, ValueError) as exc:
        raise ConfigError(
            field, f"{value!r} is not a valid engine.{path}: {str(exc).splitlines()[0]}"
        ) from None
    assert isinstance(out, EngineConfig)
    return out


def engine_variants(engine: EngineConfig) -> list[tuple[EngineConfig, Axes]]:
    """Every combination of the sweep axes (config order), as (resolved engine config, axes)."""
    if not engine.sweep:
        return [(engine, ())]
    for path, values in engine.sweep.items():
        check_path(path)
        if not values:
            raise ConfigError(f"engine.sweep.{path}", "must list at least one value")
    keys = list(engine.sweep)
    base = dataclasses.replace(engine, sweep={})
    variants = []
    for combo in itertools.product(*(list(engine.sweep[k]) for k in keys)):
        cfg = base
        for path, value in zip(keys, combo, strict=True):
            cfg = set_option(cfg, f"engine.sweep.{path}", path, value)
        variants.append((cfg, tuple(zip(keys, combo, strict=True))))
    return variants
