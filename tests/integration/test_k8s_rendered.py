"""k8s/ beyond the schemas: what `kubectl apply -k` would send, and the MLflow server's own args."""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from engines.base import http_get
from engines.process import ManagedProcess, free_port
from tests.k8s_manifests import K8S, Schemas, cluster_specs, ray_images

pytestmark = pytest.mark.integration


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_render_is_valid_and_sets_the_image() -> None:
    out = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert sorted(d["kind"] for d in docs) == ["Deployment", "PersistentVolumeClaim", "RayJob", "Service"]
    schemas = Schemas.load()
    for doc in docs:
        assert schemas.errors(doc) == [], doc["kind"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "llm-orchestrator"
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    [image] = kust["images"]
    assert ray_images(cluster_specs(docs)) == {f"{image['newName']}:{image['newTag']}"}


def _mlflow_args(root: Path, port: int) -> list[str]:
    """The Deployment's args, with only the pod-specific parts mapped to this machine."""
    dep = next(d for d in yaml.safe_load_all((K8S / "mlflow.yaml").read_text()) if d["kind"] == "Deployment")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["mlflow", "server"]
    mapped = {
        "--host=0.0.0.0": "--host=127.0.0.1",
        "--port=5000": f"--port={port}",
        "--backend-store-uri=sqlite:////mlflow/mlflow.db": f"--backend-store-uri=sqlite:///{root}/mlflow.db",
        "--artifacts-destination=/mlflow/artifacts": f"--artifacts-destination={root}/artifacts",
    }
    args = [mapped.get(a, a) for a in container["args"]]
    assert len(set(args) - set(container["args"])) == len(mapped), "every mapped arg is in the manifest"
    return args


def _request(url: str, host: str, method: str = "GET", data: bytes | None = None) -> int:
    req = urllib.request.Request(url, data=data, method=method, headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_in_cluster_mlflow_args_accept_the_service_name(tmp_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "mlflow", "server", *_mlflow_args(tmp_path, port)]
    server = ManagedProcess(argv, tmp_path / "mlflow.log", term_grace_s=10)
    server.start()
    try:
        base = f"http://127.0.0.1:{port}"
        server.wait_ready(lambda: http_get(f"{base}/health")[0] == 200, 120)
        search = f"{base}/api/2.0/mlflow/experiments/search?max_results=1"
        assert _request(search, "mlflow:5000") == 200  # the RayJob's tracking.uri
        assert _request(search, "mlflow.default.svc.cluster.local:5000") == 200
        assert _request(search, "localhost:5000") == 200  # kubectl port-forward svc/mlflow 5000:5000
        assert _request(search, "attacker.example:5000") in (400, 403)  # DNS rebinding guard kept
        # Artifacts are uploaded through the server (proxied) onto its volume.
        put = f"{base}/api/2.0/mlflow-artifacts/artifacts/0/run/artifacts/result.json"
        assert _request(put, "mlflow:5000", "PUT", b'{"ok": true}') == 200
        assert (
            tmp_path / "artifacts" / "0" / "run" / "artifacts" / "result.json"
        ).read_bytes() == b'{"ok": true}'
    finally:
        server.stop()
    assert not server.alive()
