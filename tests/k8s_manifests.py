"""Offline validation of ``k8s/``: schemas (KubeRay CRDs, Kubernetes core) and cross-file consistency.

CRDs: the vendored KubeRay CRDs' ``openAPIV3Schema`` converted to JSON Schema (draft 4, as OpenAPI
3.0), strict like ``kubectl apply --validate=strict``: an object with ``properties`` and no
``x-kubernetes-preserve-unknown-fields`` rejects unknown fields. Core kinds: the vendored Kubernetes
strict JSON schemas. CEL rules (``x-kubernetes-validations``) are not evaluated.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "k8s"
KUBERAY = K8S / "schemas" / "kuberay-v1.7.0"
CORE = K8S / "schemas" / "kubernetes-v1.32.0"
CRDS = {
    ("ray.io/v1", "RayCluster"): "ray.io_rayclusters.yaml",
    ("ray.io/v1", "RayJob"): "ray.io_rayjobs.yaml",
}
CORE_KINDS = {
    ("apps/v1", "Deployment"): "deployment-apps-v1.json",
    ("v1", "Service"): "service-v1.json",
    ("v1", "PersistentVolumeClaim"): "persistentvolumeclaim-v1.json",
    ("v1", "Secret"): "secret-v1.json",
}
_DROP = {"description", "format", "default", "example", "externalDocs", "nullable"}
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_docs(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of a manifest file (empty documents skipped)."""
    return [d for d in yaml.load_all(path.read_text(), Loader=Loader) if d]


def to_json_schema(node: dict[str, Any], strict: bool = True) -> dict[str, Any]:
    """One OpenAPI v3 (structural, Kubernetes flavoured) schema node → JSON Schema."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: to_json_schema(sub, strict) for name, sub in value.items()}
        elif key in ("items", "not") or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = to_json_schema(value, strict)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [to_json_schema(sub, strict) for sub in value]
        elif key in _DROP or key.startswith("x-kubernetes-"):
            continue
        else:  # type, required, enum, pattern, min/max*, additionalProperties: bool, ...
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    open_object = node.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in node
    if strict and "properties" in node and not open_object:
        out["additionalProperties"] = False
    return out


def crd_schema(crd: dict[str, Any], version: str) -> dict[str, Any]:
    """The JSON Schema of one served version of a CRD."""
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            return to_json_schema(v["schema"]["openAPIV3Schema"])
    raise KeyError(f"{crd['metadata']['name']} has no version {version}")


@dataclass
class Schemas:
    """Validators for every kind used in ``k8s/`` (built once, then reused)."""

    validators: dict[tuple[str, str], Any] = field(default_factory=dict)

    @classmethod
    def load(cls) -> Schemas:
        out = cls()
        for (api, kind), name in CRDS.items():
            crd = yaml.load((KUBERAY / name).read_text(), Loader=Loader)
            assert crd["spec"]["names"]["kind"] == kind
            out.validators[(api, kind)] = jsonschema.Draft4Validator(crd_schema(crd, api.split("/")[1]))
        defs = json.loads((CORE / "_definitions.json").read_text())
        registry: Registry = Resource.from_contents(defs) @ Registry()
        for key, name in CORE_KINDS.items():
            schema = json.loads((CORE / name).read_text())
            out.validators[key] = jsonschema.Draft202012Validator(schema, registry=registry)
        return out

    def errors(self, doc: dict[str, Any]) -> list[str]:
        """Schema errors of one object, as ``path: message`` lines (empty when valid)."""
        key = (doc.get("apiVersion", ""), doc.get("kind", ""))
        validator = self.validators.get(key)
        if validator is None:
            return [f"no schema for apiVersion={key[0]!r} kind={key[1]!r}"]
        found = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        return [f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in found]


# ---- consistency across files (pure functions over the loaded documents) ----


def cluster_specs(docs: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every RayCluster spec: standalone RayClusters and RayJobs' ``rayClusterSpec``."""
    out = {}
    for d in docs:
        name = f"{d['kind']}/{d['metadata']['name']}"
        if d["kind"] == "RayCluster":
            out[name] = d["spec"]
        elif d["kind"] == "RayJob" and "rayClusterSpec" in d["spec"]:
            out[name] = d["spec"]["rayClusterSpec"]
    return out


def _groups(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("head", spec["headGroupSpec"])] + [(g["groupName"], g) for g in spec.get("workerGroupSpecs", [])]


def gpu_errors(name: str, spec: dict[str, Any]) -> list[str]:
    """GPU limits == rayStartParams num-gpus; GPU pods get /dev/shm in memory; sane replica bounds."""
    errors = []
    for group, g in _groups(spec):
        pod = g["template"]["spec"]
        ray = pod["containers"][0]
        limit = int(ray.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0))
        declared = g.get("rayStartParams", {}).get("num-gpus")
        if declared is not None and int(declared) != limit:
            errors.append(f"{name} {group}: num-gpus {declared} != nvidia.com/gpu limit {limit}")
        if limit and not _has_memory_shm(pod, ray):
            errors.append(f"{name} {group}: GPU pod without an in-memory /dev/shm (NCCL)")
        if (
            group != "head"
            and not g["minReplicas"] <= g.get("replicas", g["minReplicas"]) <= g["maxReplicas"]
        ):
            errors.append(f"{name} {group}: replicas outside [minReplicas, maxReplicas]")
    return errors


def _has_memory_shm(pod: dict[str, Any], container: dict[str, Any]) -> bool:
    mounts = {m["name"] for m in container.get("volumeMounts", []) if m["mountPath"] == "/dev/shm"}
    return any(
        v["name"] in mounts and v.get("emptyDir", {}).get("medium") == "Memory" for v in pod["volumes"]
    )


def ray_images(specs: dict[str, dict[str, Any]]) -> set[str]:
    return {
        c["image"] for s in specs.values() for _, g in _groups(s) for c in g["template"]["spec"]["containers"]
    }


def entrypoint_override(entrypoint: str, key: str) -> str | None:
    """The value of ``key=value`` in a ``python -m orchestrator ...`` entrypoint."""
    for arg in shlex.split(entrypoint):
        if arg.startswith(f"{key}="):
            return arg.split("=", 1)[1]
    return None


def tracking_errors(entrypoint: str, docs: list[dict[str, Any]]) -> list[str]:
    """``tracking.uri`` must name a Service port that reaches an MLflow container port."""
    uri = entrypoint_override(entrypoint, "tracking.uri")
    m = re.fullmatch(r"http://([a-z0-9-]+):(\d+)", uri or "")
    if m is None:
        return [f"tracking.uri {uri!r} is not http://<service>:<port>"]
    host, port = m.group(1), int(m.group(2))
    svc = next((d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == host), None)
    if svc is None:
        return [f"tracking.uri host {host!r}: no Service of that name"]
    sport = next((p for p in svc["spec"]["ports"] if p["port"] == port), None)
    if sport is None:
        return [f"tracking.uri port {port}: Service {host} has no such port"]
    selector = svc["spec"]["selector"]
    for d in docs:
        labels = d.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
        if d["kind"] == "Deployment" and selector.items() <= labels.items():
            ports = [p for c in d["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])]
            target = sport.get("targetPort", port)
            if any(target in (p.get("name"), p["containerPort"]) for p in ports):
                return []
            return [
                f"Service {host} targetPort {target} matches no container port of {d['metadata']['name']}"
            ]
    return [f"Service {host} selector {selector} matches no Deployment"]


def dockerfile_arg(text: str, name: str) -> str | None:
    m = re.search(rf"^ARG {name}=(\S+)$", text, flags=re.M)
    return m.group(1) if m else None
