"""The search space (pure): ``search.space`` and ``search.candidates`` parsed, validated and expanded
into candidates, each one engine instance configuration (engine × TP × engine options).

Everything is checked here before Ray or any engine starts, with a ConfigError naming the field:
a key that is not ``engine.tp`` or a scalar engine option (the allowed keys listed), a value of the
wrong type, a TP the cluster cannot hold, an engine option the engine refuses, and the search's own
fields. A candidate's id is its engine instance's group id (the hash of its resolved engine and
model config), so the same configuration has the same id in every search and every run.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engines.registry import get_engine, registry
from orchestrator.config.schema import EngineConfig, ExperimentConfig, ModelConfig
from orchestrator.config.search import Objective, SearchConfig
from orchestrator.config.validate import validate_fields
from orchestrator.core.errors import ConfigError
from orchestrator.core.trial import Axes, axes_label, engine_instance, stable_hash
from orchestrator.sweep.checks import check_cores
from orchestrator.sweep.engine_axes import NOT_SWEEPABLE, check_path, set_option
from orchestrator.sweep.placement import NodeSpec, check_instance

PREFIX = "engine."
TP_KEY = "engine.tp"


@dataclass(frozen=True)
class Candidate:
    """One configuration to measure: its engine config (``tp`` = ``[tp]``) and what the space set."""

    cid: str  # = the engine instance's group id
    index: int  # config order (ties in the ranking go to the earlier one)
    engine: EngineConfig = dataclasses.field(compare=False)
    model: ModelConfig = dataclasses.field(compare=False)
    tp: int = 1
    settings: Axes = ()  # (path under engine, value) the space or the candidate list set; no tp
    origin: str = "search.space"  # or search.candidates[i]: the field its settings came from
    tp_set: bool = False  # whether its origin set engine.tp (else it is one of engine.tp's values)

    @property
    def label(self) -> str:
        """``vllm tp=1 max_num_seqs=8`` (what the table and the chosen line show)."""
        parts = [
            f"{p}={','.join(map(str, v)) if isinstance(v, list | tuple) else v}" for p, v in self.settings
        ]
        return " ".join([self.engine.name, f"tp={self.tp}", *parts])

    @property
    def slug(self) -> str:
        """``vllm-tp1-max_num_seqs8`` (the MLflow run name)."""
        tail = axes_label(self.settings)
        return f"{self.engine.name}-tp{self.tp}" + (f"-{tail}" if tail else "")


def allowed_keys() -> list[str]:
    """``engine.tp`` and every option of the engine config (an engine's own group as ``engine.tgi.*``)."""
    out = [TP_KEY]
    for f in dataclasses.fields(EngineConfig):
        if f.name not in NOT_SWEEPABLE:
            nested = dataclasses.is_dataclass(getattr(EngineConfig(), f.name))
            out.append(f"{PREFIX}{f.name}" + ".*" * nested)
    return out


def check_key(field: str, key: str) -> str:
    """The path under ``engine`` of a space key, or ConfigError naming ``field`` and the allowed keys."""
    if key == TP_KEY:
        return "tp"
    if not key.startswith(PREFIX):
        raise ConfigError(field, f"'{key}' is not an engine option", allowed_keys())
    try:
        check_path(key.removeprefix(PREFIX))
    except ConfigError as exc:
        raise ConfigError(field, f"'{key}' is not a searchable engine option", allowed_keys()) from exc
    return key.removeprefix(PREFIX)


def _choices(search: SearchConfig) -> list[tuple[str, dict[str, Any]]]:
    """(field prefix, {key: value}) per candidate of the product space, then the explicit ones."""
    for key, values in search.space.items():
        if not isinstance(values, list | tuple) or not values:
            raise ConfigError(f"search.space.{key}", "must list at least one value")
    keys = list(search.space)
    out = [
        ("search.space", dict(zip(keys, combo, strict=True)))
        for combo in itertools.product(*(list(search.space[k]) for k in keys))
    ]
    for i, extra in enumerate(search.candidates):
        if not isinstance(extra, Mapping) or not extra:
            raise ConfigError(f"search.candidates[{i}]", "must map engine options to values, e.g. "
                              "{engine.max_num_seqs: 8}")  # fmt: skip
        out.append((f"search.candidates[{i}]", dict(extra)))
    return out


def expand(cfg: ExperimentConfig, search: SearchConfig | None = None) -> list[Candidate]:
    """Every candidate of ``cfg`` (one engine; ``engines:`` is one config per engine), config order."""
    search = search or cfg.search
    base = dataclasses.replace(cfg.engine, sweep={})
    out: list[Candidate] = []
    for prefix, choice in _choices(search) or [("search.space", {})]:
        paths = {k: check_key(f"{prefix}.{k}", k) for k in choice}
        tps = [choice[TP_KEY]] if TP_KEY in choice else list(dict.fromkeys(cfg.engine.tp))
        engine, settings = base, []
        for key, value in choice.items():
            if key != TP_KEY:
                engine = set_option(engine, f"{prefix}.{key}", paths[key], value)
                settings.append((paths[key], value))
        for tp in tps:
            if not isinstance(tp, int) or isinstance(tp, bool):
                raise ConfigError(f"{prefix}.{TP_KEY}", f"{tp!r} is not a TP size (an integer)")
            one = dataclasses.replace(engine, tp=[tp])
            cid = stable_hash(engine_instance(one, cfg.model, tp))
            out.append(Candidate(cid, 0, one, cfg.model, tp, tuple(settings), prefix, TP_KEY in choice))
    unique = list({c.cid: c for c in reversed(out)}.values())[::-1]  # the first of two equal ones
    return [dataclasses.replace(c, index=i) for i, c in enumerate(unique)]


def check_fields(cfg: ExperimentConfig) -> None:
    """The search's own fields and what it needs of the rest of the config."""
    s = cfg.search
    if s.objective not in tuple(Objective):
        raise ConfigError("search.objective", f"unknown value '{s.objective}'", tuple(Objective))
    limits = {k: v for k, v in vars(s.slo).items() if v is not None}
    if not limits:
        raise ConfigError(
            "search.slo", "set at least one p99 limit", [f.name for f in dataclasses.fields(s.slo)]
        )
    for key, value in [*limits.items(), ("replica_lifetime_s", s.replica_lifetime_s)]:
        if not value > 0:
            raise ConfigError(f"search.{'slo.' * (key in limits)}{key}", f"must be > 0, got {value}")
    for key, value, least in (
        ("rounds", s.rounds, 1),
        ("eta", s.eta, 2),
        ("min_requests", s.min_requests, 1),
    ):
        if value < least:
            raise ConfigError(f"search.{key}", f"must be >= {least}, got {value}")
    if s.dominance_slack < 0:
        raise ConfigError("search.dominance_slack", f"must be >= 0, got {s.dominance_slack}")
    if s.budget_gpu_hours is not None and not s.budget_gpu_hours > 0:
        raise ConfigError("search.budget_gpu_hours", f"must be > 0 or null, got {s.budget_gpu_hours}")
    if cfg.kind != "serving":
        raise ConfigError("kind", "the search runs serving engines; kind must be serving")
    if cfg.repeats != 1:
        raise ConfigError("repeats", "the search measures each candidate once per round; set repeats=1")
    if cfg.engine.sweep:
        raise ConfigError("engine.sweep", "with search=slo the engine options to search go in search.space")
    w = cfg.workload
    for name, values in (("workload.input_len", w.input_len), ("workload.output_len", w.output_len)):
        if len(values) != 1:
            raise ConfigError(name, f"the search measures one workload point; give one value, got {values}")


def check(configs: Sequence[ExperimentConfig], nodes: Sequence[NodeSpec]) -> list[Candidate]:
    """All candidates of the (already validated) configs, each checked against its engine and the
    planned cluster; ConfigError naming the search key at fault."""
    from orchestrator.search.trials import measured_config  # (trials imports this module)

    check_fields(configs[0])
    for rnd in (0, configs[0].search.rounds - 1):  # what the rounds measure: sla_search, the search's SLOs
        validate_fields(measured_config(configs[0], rnd), registry().keys())
    out: list[Candidate] = []
    for cfg in configs:
        for c in expand(cfg):
            try:
                get_engine(c.engine.name).validate(c.engine, c.model)
                check_instance(c.engine, cfg.resources.device, c.tp, nodes)
                check_cores(dataclasses.replace(cfg, engine=c.engine), local=cfg.ray.address is None)
            except ConfigError as exc:
                raise _blame(exc, c) from None
            out.append(dataclasses.replace(c, index=len(out)))
    return out


def _blame(exc: ConfigError, c: Candidate) -> ConfigError:
    """The error under the search key that set the field, or marked with the candidate."""
    field = exc.field.removeprefix(PREFIX)
    set_here = (field == "tp" and c.tp_set) or any(field == p for p, _ in c.settings)
    detail = str(exc).removeprefix(f"{exc.field}: ")
    if set_here:
        return ConfigError(f"{c.origin}.{exc.field}", f"{detail} (candidate {c.label})")
    return ConfigError(exc.field, f"{detail} (in search candidate {c.label})")
