"""Browse an existing results dir: ``python -m orchestrator.ui <results_dir> [--port N]``.

Starts the same local MLflow server a sweep uses (127.0.0.1, ``<results_dir>/mlflow``), prints its
URL and keeps it up until Ctrl-C (or SIGTERM), then stops it. A sweep dir is accepted too.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from orchestrator.core.errors import TrackingError
from orchestrator.tracking.server import MLflowServer


def results_root(path: Path) -> Path:
    """The results dir holding ``mlflow/``: ``path`` itself, or its parent for a sweep dir."""
    path = Path(path).resolve()
    if not (path / "mlflow").is_dir() and (path / "sweep.json").exists():
        return path.parent
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m orchestrator.ui", description=__doc__.splitlines()[0])
    ap.add_argument("results_dir", type=Path, help="a results dir (or one sweep dir inside it)")
    ap.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    ap.add_argument("--host", default="127.0.0.1", help="interface (default: 127.0.0.1, this machine only)")
    ap.add_argument("--startup-timeout", type=float, default=90.0)
    args = ap.parse_args(argv)
    root = results_root(args.results_dir)
    if not (root / "mlflow").is_dir():
        print(f"error: {root} has no mlflow/ dir (not a results dir of a tracked sweep)", file=sys.stderr)
        return 2
    server = MLflowServer(root / "mlflow", args.host, args.port)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    # Ctrl-C even when started with SIGINT ignored (a background job of a script inherits that)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        url = server.start(args.startup_timeout)
        print(f"MLflow UI: {url}  (results: {root}; Ctrl-C to stop)", flush=True)
        while server.process is not None and server.process.alive():
            time.sleep(0.5)
        print("error: the MLflow server exited; see its log in mlflow/mlflow-server.log", file=sys.stderr)
        return 1
    except TrackingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping the MLflow server", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        server.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
