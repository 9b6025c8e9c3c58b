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

Known simplifications: no model compute (token ids are pseudo-random vocabulary words; greedy is
deterministic per prompt), the shard socket speaks JSON lines instead of gRPC, serde's error text
has no ``at line L column C`` suffix, no top_n_tokens/grammar/watermark output, no chat/OpenAI
routes, the c10d store binds MASTER_ADDR rather than the wildcard address.

Three executables in ``bin/``, as in the real image: ``text-generation-launcher`` (launcher.py),
``text-generation-server`` (shard.py), ``text-generation-router`` (router.py). The launcher finds the
other two on PATH. They run ``$TGI_STANDIN_PYTHON`` (else ``python3``) on the file, which puts the
repository root first on ``sys.path`` and imports its parts from this package: ``launcher_args``
(clap), ``launcher_log``, ``launcher_commands`` (the children's argv and env), ``launcher_procs``
(the children); ``router_http`` (server, routes), ``router_wire`` (HTTP/1.1 framing, errors),
``router_generate`` (generate and SSE), ``router_validation`` (serde, validation.rs),
``router_batching`` (the batching loop, the shards), ``router_metrics``; ``version``.

Environment knobs (stand-in only):
- ``TGI_STANDIN_VERSION`` (default 3.3.7) gates only what was checked: below 3.3.0 no
  ``--prometheus-port`` flag or listener, below 2.3.0 no ``details.input_length`` in the stream;
  everything else is 3.3.7;
- ``TGI_STANDIN_TOKEN_MS``: one decode step for the whole batch, default 5;
- ``TGI_STANDIN_EOS_AFTER=k``: the k-th generated token is EOS (finish_reason eos_token);
- ``TGI_STANDIN_LOAD_S``: shard model load time, default 0.2;
- ``TGI_STANDIN_TCP_NODELAY=1``: disable Nagle on HTTP connections (TGI 3.3.7's axum 0.7.9
  ``serve`` does not set TCP_NODELAY).
"""
