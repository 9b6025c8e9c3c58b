"""The MLflow link at the end of a sweep: never a dead URL (no server is started here)."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from orchestrator.cli.sweep import _mlflow_link, keep_server
from orchestrator.config.store import load_experiment
from orchestrator.store.results import ResultsStore


class FakeTracker:
    uri = "http://127.0.0.1:41733"

    def run_url(self, run_id: str) -> str:
        return f"{self.uri}/#/experiments/3/runs/{run_id}?workflowType=machine_learning"


def _link(tmp_path: Path, server: object, *overrides: str, interrupted: bool = False) -> str:
    out = io.StringIO()
    console = Console(file=out, width=300, force_terminal=False)
    uploader = SimpleNamespace(tracker=FakeTracker(), parent_id="abc123")
    cfg = load_experiment(list(overrides))
    _mlflow_link(cfg, console, uploader, server, ResultsStore(tmp_path, "s"), interrupted)  # type: ignore[arg-type]
    return out.getvalue()


def test_own_server_off_a_terminal_prints_the_command_that_serves_the_url_again(tmp_path: Path) -> None:
    server = SimpleNamespace(port=41733, host="127.0.0.1", process=None)
    text = _link(tmp_path, server)
    assert "press Enter" not in text, "nobody to press it: CI, kubectl logs"
    assert f"python -m orchestrator.ui {tmp_path} --port 41733" in text
    assert (
        "then open http://127.0.0.1:41733/#/experiments/3/runs/abc123?workflowType=machine_learning" in text
    )
    assert "MLflow: " not in text, "the server is stopped: its URL alone would be a dead link"


def test_outside_server_link_is_printed_as_is(tmp_path: Path) -> None:
    text = _link(tmp_path, None, "tracking.uri=http://mlflow.internal:5000")
    assert (
        text.strip()
        == "MLflow: http://127.0.0.1:41733/#/experiments/3/runs/abc123?workflowType=machine_learning"
    )


def test_keep_server_setting() -> None:
    plain = Console(file=io.StringIO(), force_terminal=False)
    assert keep_server(None, plain) is False  # auto: only on a terminal
    assert keep_server(True, plain) is True and keep_server(False, plain) is False
