"""What MLflow's UI reads: the experiment kind tag (set on old experiments too) and the links."""

from __future__ import annotations

from pathlib import Path

from orchestrator.tracking.tracker import EXPERIMENT_TAGS, Tracker


def test_experiment_kind_tag_and_links(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"  # the client's own store: no server needed
    MlflowClient(tracking_uri=uri).create_experiment("made-before-the-tag")
    for name in ("made-before-the-tag", "new"):
        tracker = Tracker(uri, name)
        tags = tracker.client.get_experiment(tracker.experiment_id).tags
        assert tags["mlflow.experimentKind"] == EXPERIMENT_TAGS["mlflow.experimentKind"]
        # MLflow 3.17's UI ignores the tag: the links ask for the model-training (runs table) view
        assert tracker.experiment_url().endswith(
            f"/#/experiments/{tracker.experiment_id}/runs?workflowType=machine_learning"
        )
        assert tracker.run_url("r1").endswith("/runs/r1?workflowType=machine_learning")
