"""Trial durations from earlier sweeps, so a new sweep can run its longest engine instances first.

A trial id hashes the trial's resolved config, so the same trial in another sweep under the same
``results_dir`` has the same id. ``load_durations`` reads the wall time of the given trials there;
``instance_cost`` turns them into an engine instance's expected seconds (pure).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from orchestrator.core.status import Status
from orchestrator.core.trial import Trial


def load_durations(results_dir: Path, trial_ids: Collection[str]) -> dict[str, float]:
    """Trial id → median wall seconds over every DONE result of these trials under ``results_dir``
    (any sweep); other trials' results are not read."""
    seen: dict[str, list[float]] = {}
    for path in Path(results_dir).glob("*/trials/*/result.json"):
        if path.parent.name not in trial_ids:
            continue
        try:
            result = json.loads(path.read_text())
            if result.get("status") != Status.DONE:
                continue
            seconds = float(result["ended_at"]) - float(result["started_at"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a trial being written, or an older layout: no estimate, no harm
        if seconds > 0:
            seen.setdefault(path.parent.name, []).append(seconds)
    return {trial_id: statistics.median(values) for trial_id, values in seen.items()}


def instance_cost(trials: Sequence[Trial], durations: Mapping[str, float]) -> float | None:
    """Expected seconds of an instance running these trials; None unless every one is known."""
    known = [durations.get(t.trial_id) for t in trials]
    return None if any(d is None for d in known) else float(sum(d for d in known if d is not None))
