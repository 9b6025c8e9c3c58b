"""The engine registry: every engine module registers its class here when imported.

The engines are listed in :mod:`engines.catalog` (adding an engine: its folder under
``engines/``, a line there, and ``conf/engine/<name>.yaml``). :func:`registry` imports their
modules on first use and builds one instance of each on every call (no shared engine state).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import MappingProxyType

from engines import catalog
from engines.base import AnyEngine
from orchestrator.core.errors import ConfigError

_FACTORIES: dict[str, Callable[[], AnyEngine]] = {}


def register(name: str, factory: Callable[[], AnyEngine]) -> None:
    """Called by each engine module at import: ``register(VLLMEngine.name, VLLMEngine)``."""
    _FACTORIES[name] = factory


def registry() -> Mapping[str, AnyEngine]:
    """Every engine by name, in :data:`engines.catalog.ENGINES` order."""
    for entry in catalog.ENGINES:
        importlib.import_module(entry.module)
    return MappingProxyType({name: make() for name, make in _FACTORIES.items()})


def get_engine(name: str) -> AnyEngine:
    engines = registry()
    if name not in engines:
        raise ConfigError("engine.name", f"unknown engine '{name}'", sorted(engines))
    return engines[name]
