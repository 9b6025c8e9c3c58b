"""Why an engine process failed, from its log and exit code (pure): ``oom``, ``bad_config``,
``port_in_use`` or ``engine_crash`` (docs/engines.md#failure-reasons)."""

from __future__ import annotations

from orchestrator.core.status import FailureReason

OOM_PATTERNS = (
    "CUDA out of memory",
    "OutOfMemoryError",
    "torch.OutOfMemoryError",
    "No available memory for the cache blocks",
    "Insufficient memory",
    "is larger than the available KV cache memory",
    "not enough KV cache",
    "Cannot allocate memory",
    "CUDA error: out of memory",
    "Not enough memory to handle",  # TGI warmup: decrease --max-batch-prefill-tokens
    "std::bad_alloc",
)
BAD_ARG_PATTERNS = (
    "error: unrecognized arguments",  # argparse (vLLM, FlexGen)
    "error: argument",
    "invalid choice",
    "ValidationError",
    "error: unexpected argument",  # clap (text-generation-launcher)
    "error: invalid value",
    "error: the argument",
    "ArgumentValidation",
)


PORT_PATTERNS = (  # matched without case
    "address already in use",  # EADDRINUSE: socket.bind (vLLM), uvicorn, torch.distributed's store
    "failed to bind to",  # TGI's router (then its launcher's WebserverFailed)
)


def classify_failure(log_text: str, returncode: int | None) -> FailureReason:
    """FAILED reason from the log and exit code: oom, bad_config, port_in_use or engine_crash."""
    if any(p in log_text for p in OOM_PATTERNS):
        return FailureReason.OOM
    if any(p in log_text.lower() for p in PORT_PATTERNS):
        return FailureReason.PORT_IN_USE
    if any(p in log_text for p in BAD_ARG_PATTERNS) or returncode == 2:
        return FailureReason.BAD_CONFIG
    return FailureReason.ENGINE_CRASH
