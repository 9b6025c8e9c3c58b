"""The engine registry: every engine module registers its class here when imported.

:data:`ENGINE_MODULES` is the one list of engine implementations (adding an engine: its folder
under ``engines/``, a line here, and ``conf/engine/<name>.yaml``). :func:`registry` imports them on
first use and builds one instance of each on every call (no shared engine state).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import MappingProxyType

from engines.base import AnyEngine
from orchestrator.core.errors import ConfigError

ENGINE_MODULES = (
    "engines.vllm.engine",
    "engines.tgi.engine",
    "engines.command.engine",
    "engines.flexgen.engine",
)

_FACTORIES: dict[str, Callable[[], AnyEngine]] = {}


def register(name: str, factory: Callable[[], AnyEngine]) -> None:
    """Called by each engine module at import: ``register(VLLMEngine.name, VLLMEngine)``."""
    _FACTORIES[name] = factory


def registry() -> Mapping[str, AnyEngine]:
    """Every engine by name, in :data:`ENGINE_MODULES` order."""
    for module in ENGINE_MODULES:
        importlib.import_module(module)
    return MappingProxyType({name: make() for name, make in _FACTORIES.items()})


def get_engine(name: str) -> AnyEngine:
    engines = registry()
    if name not in engines:
        raise ConfigError("engine.name", f"unknown engine '{name}'", sorted(engines))
    return engines[name]
