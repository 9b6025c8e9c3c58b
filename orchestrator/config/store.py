"""Register the typed schemas in a Hydra ConfigStore and compose the experiment config.

Composition uses Hydra's compose API (not ``@hydra.main``) so that nothing is written to the
working directory, errors are ours to type, and the process keeps its cwd.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from importlib import resources
from typing import Any

from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from orchestrator.config.schema import (
    EngineConfig,
    ExperimentConfig,
    ModelConfig,
    RayConfig,
    ReportConfig,
    ResourcesConfig,
    TrackingConfig,
    WorkloadConfig,
)
from orchestrator.config.search import SearchConfig
from orchestrator.core.errors import ConfigError

CONFIG_MODULE = "conf"
GROUPS = ("engine", "model", "workload", "resources", "tracking", "search", "exp")
_SCHEMAS = {
    "engine": EngineConfig,
    "model": ModelConfig,
    "workload": WorkloadConfig,
    "resources": ResourcesConfig,
    "tracking": TrackingConfig,
    "ray": RayConfig,
    "report": ReportConfig,
    "search": SearchConfig,
}


def register_schemas(cs: ConfigStore) -> None:
    """Store the root schema and one ``base_<group>`` schema per group (idempotent)."""
    cs.store(name="base_experiment", node=ExperimentConfig)
    for group, schema in _SCHEMAS.items():
        cs.store(group=group, name=f"base_{group}", node=schema)


def group_options(group: str) -> list[str]:
    """The yaml options shipped in ``conf/<group>/``."""
    folder = resources.files(CONFIG_MODULE).joinpath(group)
    if not folder.is_dir():
        return []
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def compose_config(overrides: list[str]) -> DictConfig:
    """Compose ``conf/config.yaml`` with Hydra overrides; raise ConfigError on any bad input."""
    register_schemas(ConfigStore.instance())
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            return compose(config_name="config", overrides=overrides)
    except MissingConfigException as exc:
        raise _missing_option(str(exc), overrides) from exc
    except (HydraException, OmegaConfBaseException) as exc:
        error = _typed(exc)
        if error.field.startswith(("search.space.", "search.space=")):  # a mapping set without ++
            raise ConfigError("search.space", "add axes with ++search.space={engine.max_num_seqs:[64,128]} "
                              "(Hydra's ++ merges a mapping into the preset's)") from exc  # fmt: skip
        raise error from exc
    finally:
        GlobalHydra.instance().clear()


def to_experiment(cfg: DictConfig) -> ExperimentConfig:
    _reject_unknown_keys(cfg, ExperimentConfig, "")
    try:
        obj = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as exc:
        raise _typed(exc) from exc
    assert isinstance(obj, ExperimentConfig)
    return obj


def load_experiment(overrides: list[str]) -> ExperimentConfig:
    return to_experiment(compose_config(overrides))


def _reject_unknown_keys(node: object, schema: type, prefix: str) -> None:
    """``+key=value`` can add keys that the dataclass would silently drop: refuse them."""
    if not isinstance(node, DictConfig) or not dataclasses.is_dataclass(schema):
        return
    fields = {f.name: f for f in dataclasses.fields(schema)}
    for key in node:
        name = f"{prefix}{key!s}"
        if key not in fields:
            raise ConfigError(name, f"no such key in {schema.__name__}", sorted(fields))
        sub = typing.get_type_hints(schema).get(str(key))
        if isinstance(sub, type) and dataclasses.is_dataclass(sub):
            _reject_unknown_keys(node[key], sub, f"{name}.")


def _missing_option(message: str, overrides: list[str]) -> ConfigError:
    for group in GROUPS:
        if f"'{group}/" in message:
            chosen = next(
                (o.split("=", 1)[1] for o in overrides if o.lstrip("+~").startswith(f"{group}=")), "?"
            )
            name = "exp (preset)" if group == "exp" else group
            return ConfigError(name, f"unknown option '{chosen}'", group_options(group))
    return ConfigError("overrides", message.splitlines()[0])


def _typed(exc: BaseException) -> ConfigError:
    """Turn Hydra/OmegaConf messages into a ConfigError naming the full key and the cause."""
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 8:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    key = next((str(k) for e in chain if (k := getattr(e, "full_key", None))), "")
    texts = [str(e) for e in chain if str(e) and str(e) != "None"]
    for text in texts:
        if key:
            break
        for pattern in (
            r"full_key: (\S+)",
            r"override '?([\w.\[\]]+)=",
            r"override '([\w.]+)'",
            r"Key '([^']+)' not in",
        ):
            if m := re.search(pattern, text):
                key = m.group(1)
                break
    detail = texts[-1].splitlines()[0] if texts else type(exc).__name__
    if any(isinstance(e, ConfigKeyError) for e in chain) or "Could not override" in texts[0]:
        schema = _schema_at(key)
        allowed = sorted(f.name for f in dataclasses.fields(schema)) if schema else None
        return ConfigError(key, f"no such key in {getattr(schema, '__name__', 'the schema')}", allowed)
    return ConfigError(key or "overrides", detail)


def _schema_at(key: str) -> type | None:
    """The dataclass that holds the last segment of a dotted key (None if not a dataclass)."""
    schema: Any = ExperimentConfig
    for part in key.split(".")[:-1]:
        hints = typing.get_type_hints(schema) if dataclasses.is_dataclass(schema) else {}
        schema = hints.get(part)
    return schema if isinstance(schema, type) and dataclasses.is_dataclass(schema) else None
