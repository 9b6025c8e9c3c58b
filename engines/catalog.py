"""The engines, one line each: name, implementation module and options dataclass (if any).

Adding an engine: its folder under ``engines/`` (``engine.py`` registering itself, ``config.py``
with its options dataclass if it has options), a line here, and ``conf/engine/<name>.yaml``.
This is the one list of engines: :mod:`engines.registry` imports each ``module`` on first use, and
the config schema (:mod:`orchestrator.config.schema`) gives every engine that has ``options`` its
group ``engine.<name>``. Part of the schema layer: it names the implementations as strings and
imports nothing but the option dataclasses.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any, TypeVar, cast

from engines.flexgen.config import FlexGenConfig
from engines.tgi.config import TGIConfig


@dataclass(frozen=True)
class EngineEntry:
    name: str  # engine.name; also the option group's key (engine.<name>)
    module: str  # imported by engines.registry; it calls register(name, ...)
    options: type | None = None  # a plain dataclass: the group engine.<name>


ENGINES: tuple[EngineEntry, ...] = (
    EngineEntry("vllm", "engines.vllm.engine"),
    EngineEntry("tgi", "engines.tgi.engine", TGIConfig),
    EngineEntry("command", "engines.command.engine"),
    EngineEntry("flexgen", "engines.flexgen.engine", FlexGenConfig),
)

T = TypeVar("T")


def option_groups() -> dict[str, type]:
    """``{name: options dataclass}`` of the engines that have options, in :data:`ENGINES` order."""
    return {e.name: e.options for e in ENGINES if e.options is not None}


def with_option_groups(cls: type, before: str = "sweep") -> type:
    """The plain dataclass ``cls`` (fields only, no methods) with a field ``<name>: <options>``
    per :func:`option_groups` entry, placed before its field ``before``; the same name, module and
    field order otherwise (``orchestrator.config.schema.EngineConfig`` is built with it)."""
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                                 "__doc__": cls.__doc__, "__annotations__": annotations}  # fmt: skip
    for f in fields(cls):
        if f.name == before:
            for name, options_type in option_groups().items():
                annotations[name] = options_type
                namespace[name] = field(default_factory=options_type)
        annotations[f.name] = f.type
        namespace[f.name] = (
            field(default=f.default) if f.default is not MISSING else field(default_factory=f.default_factory)
        )
    return dataclass(type(cls.__name__, (), namespace))


def options(cfg: object, options_type: type[T]) -> T:
    """An engine's option group, typed: ``options(cfg, TGIConfig)`` is ``cfg.tgi``."""
    name = next(name for name, kind in option_groups().items() if kind is options_type)
    return cast(T, getattr(cfg, name))
