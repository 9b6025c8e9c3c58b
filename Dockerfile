# The project image for the Ray head and GPU workers (k8s/). Two targets, one per engine family:
#   docker build --target vllm -t registry.example.com/llm-orchestrator:0.1.0-vllm .   (default)
#   docker build --target tgi  -t registry.example.com/llm-orchestrator:0.1.0-tgi  .
# Base images: the engines' official images. They ship CUDA, a matching torch/NCCL and the
# engine built and tested together (vLLM's kernels, TGI's launcher + router + server), which a
# plain CUDA runtime image plus `pip install vllm` reproduces only slowly and fragilely, and
# which rayproject/ray images lack. Ray is pinned to one version so head, workers and the
# RayCluster's rayVersion agree (a test checks RAY_VERSION against k8s/*.yaml).
ARG VLLM_IMAGE=vllm/vllm-openai:v0.33.0
ARG TGI_IMAGE=ghcr.io/huggingface/text-generation-inference:3.3.6
ARG RAY_VERSION=2.60.0

# --- What both targets install: the project's sources, copied once.
FROM scratch AS src
COPY pyproject.toml README.md /app/
COPY orchestrator /app/orchestrator
COPY engines /app/engines
COPY workloads /app/workloads
COPY conf /app/conf

# --- TGI: text-generation-launcher from the official image; the orchestrator in its own venv so
# Ray/MLflow's dependencies never touch TGI's Python environment.
FROM ${TGI_IMAGE} AS tgi
ARG RAY_VERSION
# wget: KubeRay's readiness/liveness probes call it.
RUN apt-get update && apt-get install -y --no-install-recommends wget \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=src /app ./
RUN python3 -m venv /opt/orchestrator \
    && /opt/orchestrator/bin/pip install --no-cache-dir . "nvidia-ml-py>=12" "ray[default]==${RAY_VERSION}"
# The venv first (python, ray), TGI's binaries still on PATH after it.
ENV PATH=/opt/orchestrator/bin:${PATH} PYTHONUNBUFFERED=1
ENTRYPOINT []
CMD ["bash"]

# --- vLLM (default target): the project with its `gpu` extra on top of vLLM's own environment.
FROM ${VLLM_IMAGE} AS vllm
ARG RAY_VERSION
RUN apt-get update && apt-get install -y --no-install-recommends wget \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=src /app ./
# vllm is already installed, so the `gpu` extra adds only what is missing; Ray at the pinned version.
RUN python3 -m pip install --no-cache-dir ".[gpu]" "ray[default]==${RAY_VERSION}"
ENV PYTHONUNBUFFERED=1
ENTRYPOINT []
CMD ["bash"]
