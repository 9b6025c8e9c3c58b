"""k8s/ validated offline: KubeRay CRD and Kubernetes schemas, and consistency between the files."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s_manifests import (
    K8S,
    ROOT,
    Schemas,
    cluster_specs,
    dockerfile_arg,
    entrypoint_override,
    gpu_errors,
    load_docs,
    ray_images,
    to_json_schema,
    tracking_errors,
)

MANIFESTS = ("raycluster.yaml", "rayjob.yaml", "mlflow.yaml", "hf-token.example.yaml")


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return Schemas.load()


@pytest.fixture(scope="module")
def docs() -> dict[str, list[dict[str, Any]]]:
    return {name: load_docs(K8S / name) for name in MANIFESTS}


def _all(docs: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [d for file_docs in docs.values() for d in file_docs]


def _one(docs: dict[str, list[dict[str, Any]]], kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(d for d in _all(docs) if d["kind"] == kind))


@pytest.mark.parametrize("name", MANIFESTS)
def test_every_manifest_is_valid(schemas: Schemas, docs: dict[str, list[dict[str, Any]]], name: str) -> None:
    assert docs[name]
    for doc in docs[name]:
        assert schemas.errors(doc) == [], f"{name} {doc['kind']}"


def test_kustomization_lists_existing_files_and_the_ray_image(docs: dict[str, list[dict[str, Any]]]) -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kust["kind"] == "Kustomization"
    assert set(kust["resources"]) == {"mlflow.yaml", "rayjob.yaml"}
    assert all((K8S / r).is_file() for r in kust["resources"])
    images = ray_images(cluster_specs(_all(docs)))
    assert images == {"llm-orchestrator"}, "head and workers, RayCluster and RayJob: one image"
    assert [i["name"] for i in kust["images"]] == ["llm-orchestrator"]


def test_gpu_limits_match_num_gpus_and_shm(docs: dict[str, list[dict[str, Any]]]) -> None:
    specs = cluster_specs(_all(docs))
    assert set(specs) == {"RayCluster/llm-orchestrator", "RayJob/tgi-tp-sweep"}
    for name, spec in specs.items():
        assert gpu_errors(name, spec) == []
        head = spec["headGroupSpec"]
        assert head["rayStartParams"]["num-gpus"] == "0"
        assert "nvidia.com/gpu" not in head["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert spec["enableInTreeAutoscaling"] is True
        assert any(g["rayStartParams"]["num-gpus"] == "8" for g in spec["workerGroupSpecs"])


def test_rayjob_embeds_the_raycluster_spec(docs: dict[str, list[dict[str, Any]]]) -> None:
    job, cluster = _one(docs, "RayJob"), _one(docs, "RayCluster")
    assert job["spec"]["rayClusterSpec"] == cluster["spec"]
    assert job["spec"]["shutdownAfterJobFinishes"] is True
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    assert "clusterSelector" not in job["spec"]


def test_rayjob_entrypoint_and_mlflow_service_agree(docs: dict[str, list[dict[str, Any]]]) -> None:
    entrypoint = _one(docs, "RayJob")["spec"]["entrypoint"]
    assert entrypoint.startswith("python -m orchestrator +exp=tgi_tp_sweep ")
    assert entrypoint_override(entrypoint, "ray.address") == "auto"
    assert entrypoint_override(entrypoint, "tracking.uri") == "http://mlflow:5000"
    assert tracking_errors(entrypoint, docs["mlflow.yaml"]) == []


def test_mlflow_server_args(docs: dict[str, list[dict[str, Any]]]) -> None:
    container = _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    assert container["command"] == ["mlflow", "server"]
    assert "--host=0.0.0.0" in args and "--port=5000" in args
    assert "--backend-store-uri=sqlite:////mlflow/mlflow.db" in args
    assert "--artifacts-destination=/mlflow/artifacts" in args
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/mlflow"}]


def test_hf_token_only_from_a_secret(docs: dict[str, list[dict[str, Any]]]) -> None:
    for spec in cluster_specs(_all(docs)).values():
        for g in [spec["headGroupSpec"], *spec["workerGroupSpecs"]]:
            for env in g["template"]["spec"]["containers"][0].get("env", []):
                if "TOKEN" in env["name"]:
                    assert "value" not in env
                    assert env["valueFrom"]["secretKeyRef"]["name"] == "hf-token"


def test_dockerfile_pins_the_ray_version_of_the_manifests(docs: dict[str, list[dict[str, Any]]]) -> None:
    text = (ROOT / "Dockerfile").read_text()
    versions = {s["rayVersion"] for s in cluster_specs(_all(docs)).values()}
    assert versions == {dockerfile_arg(text, "RAY_VERSION")}
    assert "AS tgi" in text and "AS vllm" in text and '".[gpu]"' in text
    assert ".venv" in (ROOT / ".dockerignore").read_text()


# ---- deliberately broken manifests must fail ----


def test_wrong_type_for_replicas_fails(schemas: Schemas, docs: dict[str, list[dict[str, Any]]]) -> None:
    dep = _one(docs, "Deployment")
    dep["spec"]["replicas"] = "one"
    assert any(e.startswith("spec.replicas:") for e in schemas.errors(dep))


def test_missing_required_field_fails(schemas: Schemas, docs: dict[str, list[dict[str, Any]]]) -> None:
    cluster = _one(docs, "RayCluster")
    del cluster["spec"]["workerGroupSpecs"][0]["groupName"]
    assert any("'groupName' is a required property" in e for e in schemas.errors(cluster))
    svc = _one(docs, "Service")
    del svc["spec"]["ports"][0]["port"]
    assert any("'port' is a required property" in e for e in schemas.errors(svc))


def test_unknown_field_fails_under_strict(schemas: Schemas, docs: dict[str, list[dict[str, Any]]]) -> None:
    job = _one(docs, "RayJob")
    job["spec"]["shutdownAfterJobFinish"] = True  # typo: the operator would silently drop it
    assert any("shutdownAfterJobFinish" in e for e in schemas.errors(job))
    pvc = _one(docs, "PersistentVolumeClaim")
    pvc["spec"]["resources"]["request"] = {"storage": "1Gi"}
    assert any("request" in e for e in schemas.errors(pvc))


def test_number_where_kuberay_wants_a_string_fails(
    schemas: Schemas, docs: dict[str, list[dict[str, Any]]]
) -> None:
    cluster = _one(docs, "RayCluster")
    cluster["spec"]["workerGroupSpecs"][0]["rayStartParams"]["num-gpus"] = 8
    errors = schemas.errors(cluster)
    assert any("rayStartParams.num-gpus" in e and "'string'" in e for e in errors)
    cluster["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"]["limits"][
        "memory"
    ] = "lots"
    assert any("limits.memory" in e for e in schemas.errors(cluster))


def test_unknown_kind_fails(schemas: Schemas) -> None:
    assert schemas.errors({"apiVersion": "v1", "kind": "ConfigMap"}) == [
        "no schema for apiVersion='v1' kind='ConfigMap'"
    ]


def test_inconsistent_files_fail(docs: dict[str, list[dict[str, Any]]]) -> None:
    spec = _one(docs, "RayCluster")["spec"]
    worker = spec["workerGroupSpecs"][0]
    worker["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = 4
    assert gpu_errors("c", spec) == ["c gpu-8x: num-gpus 8 != nvidia.com/gpu limit 4"]
    worker["template"]["spec"]["volumes"] = [
        v for v in worker["template"]["spec"]["volumes"] if v["name"] != "dshm"
    ]
    assert any("/dev/shm" in e for e in gpu_errors("c", spec))

    mlflow = copy.deepcopy(docs["mlflow.yaml"])
    entry = "python -m orchestrator ray.address=auto tracking.uri=http://mlflow:5000"
    assert tracking_errors(entry.replace("mlflow:", "mlflow-server:"), mlflow) == [
        "tracking.uri host 'mlflow-server': no Service of that name"
    ]
    next(d for d in mlflow if d["kind"] == "Service")["spec"]["ports"][0]["port"] = 5001
    assert tracking_errors(entry, mlflow) == ["tracking.uri port 5000: Service mlflow has no such port"]


def test_converter_keeps_kubernetes_semantics() -> None:
    node = {
        "type": "object",
        "description": "d",
        "properties": {
            "q": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {}},
            "m": {"type": "object", "additionalProperties": {"type": "string"}},
            "n": {"type": "string", "nullable": True},
        },
    }
    out = to_json_schema(node)
    assert out["additionalProperties"] is False and "description" not in out
    assert out["properties"]["q"]["type"] == ["integer", "string"]
    assert "additionalProperties" not in out["properties"]["free"]
    assert out["properties"]["m"]["additionalProperties"] == {"type": "string"}
    assert out["properties"]["n"]["type"] == ["string", "null"]
    assert "additionalProperties" not in to_json_schema(node, strict=False)


def test_vendored_schemas_carry_their_license() -> None:
    for folder in (K8S / "schemas").iterdir():
        assert (folder / "LICENSE").is_file() and (folder / "SOURCE.md").is_file(), folder
        assert "Apache" in (folder / "LICENSE").read_text()
    assert Path(K8S / "schemas" / "kuberay-v1.7.0" / "ray.io_rayjobs.yaml").stat().st_size > 100_000
