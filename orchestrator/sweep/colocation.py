"""Side channels fixed in the config, and whether two engine instances could share a node (pure).

An engine has internal endpoints besides its HTTP port: TGI's torch.distributed rendezvous
(``--master-port``, default 29500), its shards' unix sockets (``--shard-uds-path``, default
``/tmp/text-generation-server``) and Prometheus exporter (``--prometheus-port``, 3.3.0+); vLLM's
internal ports (from ``VLLM_PORT``) and IPC sockets (``VLLM_RPC_BASE_PATH``). Two instances on one
node with the same value cannot both start, so the runner gives each instance its own
(:func:`engines.side_channels.allocate`), and a value fixed in the config is only accepted when
no two instances of the sweep can be on one node at once (:func:`could_colocate`,
:func:`check_side_channels`).
"""

from __future__ import annotations

from collections.abc import Sequence

from engines.catalog import options
from engines.tgi.config import TGIConfig
from orchestrator.config.schema import ExperimentConfig
from orchestrator.core.errors import ConfigError
from orchestrator.sweep.grid import expand, group_by_engine
from orchestrator.sweep.placement import NodeSpec, instance_cpus, local_cpus_per_node

CONTAINER_LAUNCHERS = ("docker", "podman")  # own network namespace and /tmp: nothing to share


def instance_tps(cfg: ExperimentConfig) -> list[int]:
    """The TP of every engine instance the sweep starts (one per trial when engine.reuse is off)."""
    trials = expand(cfg)
    if cfg.engine.reuse:
        return [group[0].tp for group in group_by_engine(trials).values()]
    return [t.tp for t in trials]


def could_colocate(cfg: ExperimentConfig, nodes: Sequence[NodeSpec] | None = None) -> bool:
    """Whether two engine instances of the sweep can run on one node at the same time.

    That needs ``ray.max_concurrent_engines`` unset (as many as fit) or > 1, at least two
    instances, and a node with GPUs and CPUs for the two smallest (the scheduler packs any
    instances that fit, ``capacity.Capacity``; an instance larger than a node takes whole nodes; on
    CPU a vLLM instance's bundle holds the cores of its ranks, ``tp × engine.cpus``). ``nodes``: the
    planned cluster (None: from ``resources``); with ``ray.address`` the cluster is not known before
    connecting, so any two instances may meet.
    """
    limit = cfg.ray.max_concurrent_engines
    if limit is not None and limit < 2:
        return False
    tps = sorted(instance_tps(cfg))
    if len(tps) < 2:
        return False
    r = cfg.resources
    if cfg.ray.address or (nodes is None and r.gpus_per_node is None):
        return True
    if nodes is None:
        nodes = [NodeSpec(int(r.gpus_per_node or 0), local_cpus_per_node(r))] * r.num_nodes
    gpus = tps[0] + tps[1]
    cpus = sum(instance_cpus(cfg.engine, r.device, tp) for tp in tps[:2])
    return any(n.gpus >= gpus and n.cpus >= cpus for n in nodes)


def fixed_side_channels(cfg: ExperimentConfig) -> list[str]:
    """The side-channel fields the config fixes to one value for every instance."""
    e = cfg.engine
    fields = []
    tgi = options(e, TGIConfig)
    if e.name == "tgi" and tgi.launcher not in CONTAINER_LAUNCHERS:
        for name in ("master_port", "shard_uds_path", "prometheus_port"):
            if getattr(tgi, name) is not None:
                fields.append(f"engine.tgi.{name}")
    if e.name == "vllm":
        fields += [f"engine.env.{key}" for key in ("VLLM_PORT", "VLLM_RPC_BASE_PATH") if key in e.env]
    return fields


def check_side_channels(cfg: ExperimentConfig, nodes: Sequence[NodeSpec] | None = None) -> None:
    """ConfigError naming the first fixed side-channel field when two instances could share a node."""
    fields = fixed_side_channels(cfg)
    if fields and could_colocate(cfg, nodes):
        raise ConfigError(
            fields[0],
            "is one value for every engine instance, but two instances of this sweep can run on one "
            "node at once and would both bind it; leave it null: each instance gets its own (or set "
            "ray.max_concurrent_engines=1: one instance at a time)",
        )
