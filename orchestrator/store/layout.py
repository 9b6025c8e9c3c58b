"""The names of the results layout, in one place (only the store's modules use them).

```
<results_dir>/<sweep_id>/sweep.json config.yaml
                         trials/<trial_id>/result.json config.yaml requests.parquet engine.log upload.json
                         aggregates/<config_id>/result.json config.yaml upload.json   (repeats > 1)
                         report/
```
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SWEEP_META = "sweep.json"
SWEEP_CONFIG = "config.yaml"  # the sweep's whole resolved config (the parent MLflow run's artifact)
TRIALS = "trials"
RESULT = "result.json"
CONFIG = "config.yaml"
REQUESTS = "requests.parquet"
ENGINE_LOG = "engine.log"
UPLOAD_MARKER = "upload.json"
REPORT_DIR = "report"
AGGREGATES = "aggregates"  # one directory per configuration run with repeats > 1: mean and CI
ARTIFACTS = (CONFIG, RESULT, REQUESTS, ENGINE_LOG)
"""A trial's files that MLflow gets as artifacts (the ones that exist)."""


def trial_dirs(sweep_dir: Path, kind: str = TRIALS) -> Iterator[Path]:
    """The finished trials' directories of a sweep (``kind``: ``trials`` or ``aggregates``), sorted
    (a trial being written is hidden)."""
    trials = Path(sweep_dir) / kind
    if trials.is_dir():
        for d in sorted(trials.iterdir()):
            if d.is_dir() and not d.name.startswith(".") and (d / RESULT).exists():
                yield d


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object file's contents ({} when it does not exist)."""
    return dict(json.loads(path.read_text())) if path.exists() else {}
