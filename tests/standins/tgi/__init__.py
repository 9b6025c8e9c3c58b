"""A stand-in for Hugging Face text-generation-inference (TGI) 3.3.7 that runs without a GPU.

Behaviour follows TGI v3.3.7 as read from its source (github.com/huggingface/text-generation-inference,
tag v3.3.7): ``launcher/src/main.rs`` (flags, defaults, env fallbacks, shard/webserver lifecycle,
exit codes), ``router/src/server.rs`` (routes, SSE stream, metrics, prometheus listener, bind),
``router/src/lib.rs`` (GenerateParameters without ``deny_unknown_fields``, StreamResponse,
StreamDetails, Details, Token, Info, ErrorResponse), ``router/src/validation.rs`` (validation
errors), ``router/src/infer/mod.rs`` (error types), ``backends/v3/src/{main,lib}.rs`` (defaults),
``server/text_generation_server/server.py`` and ``utils/dist.py`` (shard socket
``unix://{uds_path}-{rank}``, torch.distributed master port when WORLD_SIZE > 1) and
metrics-exporter-prometheus 0.15 (the prometheus listener is bound at build and dropped).

Three executables in ``bin/``, as in the real image: ``text-generation-launcher`` (launcher.py),
``text-generation-server`` (shard.py), ``text-generation-router`` (router.py). The launcher finds the
other two on PATH. They run ``$TGI_STANDIN_PYTHON`` (else ``python3``).

Environment knobs (stand-in only): ``TGI_STANDIN_VERSION`` (default 3.3.7; below 3.3.0 there is no
``--prometheus-port``), ``TGI_STANDIN_TOKEN_MS`` (per decode step, default 5),
``TGI_STANDIN_EOS_AFTER`` (the k-th generated token is EOS), ``TGI_STANDIN_LOAD_S`` (shard model
load time, default 0.2), ``TGI_STANDIN_TCP_NODELAY=1`` (disable Nagle on HTTP connections; TGI
3.3.7's axum 0.7.9 ``serve`` does not set TCP_NODELAY).
"""
