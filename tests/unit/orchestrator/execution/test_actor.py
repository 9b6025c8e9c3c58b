"""execution.actor.start_runner: a start whose port was taken is started again on fresh ports."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core.errors import EngineError
from orchestrator.core.status import FailureReason
from orchestrator.execution.actor import PORT_RETRIES, start_runner


class FakeRunner:
    def __init__(self, failures: list[FailureReason]) -> None:
        self.failures, self.calls, self.stops = list(failures), 0, 0
        self.notes: list[str] = []

    def start(self, gpu_ids: list[str], cpus: int | None) -> dict[str, Any]:
        self.calls += 1
        if self.failures:
            raise EngineError("port 4711 answered readiness, but ...", reason=self.failures.pop(0))
        return {"engine": "vllm", "gpu_ids": gpu_ids}

    def stop(self) -> None:
        self.stops += 1

    def note(self, text: str) -> None:
        self.notes.append(text)


def test_port_in_use_starts_again_and_says_so() -> None:
    runner = FakeRunner([FailureReason.PORT_IN_USE])
    assert start_runner(runner, ["0"], None) == {"engine": "vllm", "gpu_ids": ["0"]}  # type: ignore[arg-type]
    assert (runner.calls, runner.stops) == (2, 1)
    assert runner.notes == [
        "start 1 failed, port_in_use (port 4711 answered readiness, but ...): starting again on fresh ports"
    ]


def test_other_failures_and_the_last_port_failure_are_raised() -> None:
    crash = FakeRunner([FailureReason.ENGINE_CRASH])
    with pytest.raises(EngineError) as err:
        start_runner(crash, [], None)  # type: ignore[arg-type]
    assert err.value.reason is FailureReason.ENGINE_CRASH and crash.calls == 1 and not crash.notes
    taken = FakeRunner([FailureReason.PORT_IN_USE] * (PORT_RETRIES + 1))
    with pytest.raises(EngineError) as err:
        start_runner(taken, [], None)  # type: ignore[arg-type]
    assert err.value.reason is FailureReason.PORT_IN_USE and taken.calls == PORT_RETRIES + 1
    assert len(taken.notes) == PORT_RETRIES
