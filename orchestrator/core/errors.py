"""Typed errors. Each names the config field at fault and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.core.status import FailureReason


class OrchestratorError(Exception):
    """Base class for every error this tool raises on purpose."""

    exit_code = 1


class ConfigError(OrchestratorError):
    """A bad value in the composed config, found before anything starts."""

    exit_code = 2

    def __init__(self, field: str, message: str, allowed: Iterable[object] | None = None) -> None:
        self.field = field
        self.allowed = list(allowed) if allowed is not None else None
        text = f"{field}: {message}"
        if self.allowed is not None:
            text += f" (allowed: {', '.join(str(a) for a in self.allowed)})"
        super().__init__(text)


class PlacementError(ConfigError):
    """A trial cannot be placed on the cluster as it is."""


class EngineError(OrchestratorError):
    """An engine process failed to start or died; carries the log tail."""

    def __init__(
        self, message: str, reason: FailureReason = FailureReason.ENGINE_CRASH, log_tail: str = ""
    ) -> None:
        self.reason = reason
        text = message if not log_tail else f"{message}\n--- engine log tail ---\n{log_tail}"
        super().__init__(text)


class TrackingError(OrchestratorError):
    """MLflow could not be started or reached."""
