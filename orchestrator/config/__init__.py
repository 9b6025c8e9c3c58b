"""Typed experiment configuration, its Hydra ConfigStore registration, composition and validation."""

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

__all__ = [
    "EngineConfig",
    "ExperimentConfig",
    "ModelConfig",
    "RayConfig",
    "ReportConfig",
    "ResourcesConfig",
    "TrackingConfig",
    "WorkloadConfig",
]
