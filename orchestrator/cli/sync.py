"""``python -m orchestrator.sync <sweep_dir> | <results_dir> <sweep_id> [--uri URI] [--experiment NAME]``.

Uploads a sweep's trials that MLflow is missing (:func:`orchestrator.tracking.sync.sync_sweep`);
without ``--uri`` it uses the sweep's ``tracking.uri`` or starts the sweep's local server again.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from orchestrator.core.errors import TrackingError
from orchestrator.tracking.server import MLflowServer
from orchestrator.tracking.sync import open_store, sync_sweep
from orchestrator.tracking.tracker import Tracker


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m orchestrator.sync", description="Upload a sweep's trials that MLflow is missing."
    )
    ap.add_argument("target", type=Path, help="a sweep dir (results/<sweep_id>) or a results dir")
    ap.add_argument("sweep_id", nargs="?", help="the sweep id when TARGET is a results dir")
    ap.add_argument("--uri", help="server (default: the sweep's tracking.uri, else its local server)")
    ap.add_argument("--experiment", help="experiment (default: the sweep's tracking.experiment or preset)")
    args = ap.parse_args(argv)
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "1")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    store = open_store(args.target, args.sweep_id)
    meta = store.sweep_meta()
    if not meta:
        print(f"error: {store.sweep_dir} has no sweep.json (not a sweep directory)", file=sys.stderr)
        return 2
    tracking = (meta.get("config") or {}).get("tracking") or {}
    uri = args.uri or tracking.get("uri")
    experiment = args.experiment or tracking.get("experiment") or meta.get("name") or store.sweep_id
    server = None if uri else MLflowServer(store.root / "mlflow")
    try:
        if server is not None:
            uri = server.start(float(tracking.get("startup_timeout_s") or 90.0))
        assert uri is not None
        report = sync_sweep(store, Tracker(uri, experiment))
    except TrackingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()
    print(
        f"sync {store.sweep_id} → {uri} (experiment {experiment}): {len(report.uploaded)} uploaded, "
        f"{len(report.skipped)} already there, {len(report.failed)} failed"
    )
    for trial_id, error in report.failed.items():
        print(f"  FAILED {trial_id}: {error}", file=sys.stderr)
    return 1 if report.failed else 0
