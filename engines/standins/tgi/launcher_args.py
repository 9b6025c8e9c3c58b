"""The launcher's arguments: TGI v3.3.7's clap ``Args`` (``launcher/src/main.rs``) emulated.

Long names, short ones, defaults, the ``env`` fallback of every flag (the upper-cased field name),
value enums and ranges, clap's error texts (exit 2 by the caller), ``--help`` and ``--version``;
``--prometheus-port`` only from 3.3.0 (``TGI_STANDIN_VERSION``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from engines.standins.tgi.version import standin_version, version_tuple

PROG = "text-generation-launcher"

QUANTIZE = (
    "awq",
    "compressed-tensors",
    "eetq",
    "exl2",
    "gptq",
    "marlin",
    "bitsandbytes",
    "bitsandbytes-nf4",
    "bitsandbytes-fp4",
    "fp8",
)
DTYPE = ("float16", "bfloat16")
KV_CACHE_DTYPE = ("fp8_e4m3fn", "fp8_e5m2")
ROPE_SCALING = ("linear", "dynamic")
USAGE_STATS = ("on", "off", "no-stack")

U16 = (0, 2**16 - 1)
U32 = (0, 2**32 - 1)
USIZE = (0, 2**64 - 1)


@dataclass(frozen=True)
class Opt:
    name: str  # field name (snake_case)
    kind: str  # str | int | float | bool_value | switch | enum | list | csv_int
    default: Any = None
    choices: tuple[str, ...] = ()
    bounds: tuple[int, int] = USIZE
    short: str | None = None
    env: bool = True
    since: str | None = None

    @property
    def long(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def value_name(self) -> str:
        return self.name.upper()


OPTS: tuple[Opt, ...] = (
    Opt("model_id", "str", "bigscience/bloom-560m"),
    Opt("revision", "str"),
    Opt("validation_workers", "int", 2),
    Opt("sharded", "bool_value"),
    Opt("num_shard", "int"),
    Opt("quantize", "enum", choices=QUANTIZE),
    Opt("speculate", "int"),
    Opt("dtype", "enum", choices=DTYPE),
    Opt("kv_cache_dtype", "enum", choices=KV_CACHE_DTYPE),
    Opt("trust_remote_code", "switch", False),
    Opt("max_concurrent_requests", "int", 128),
    Opt("max_best_of", "int", 2),
    Opt("max_stop_sequences", "int", 4),
    Opt("max_top_n_tokens", "int", 5, bounds=U32),
    Opt("max_input_tokens", "int"),
    Opt("max_input_length", "int"),
    Opt("max_total_tokens", "int"),
    Opt("waiting_served_ratio", "float", 0.3),
    Opt("max_batch_prefill_tokens", "int", bounds=U32),
    Opt("max_batch_total_tokens", "int", bounds=U32),
    Opt("max_waiting_tokens", "int", 20),
    Opt("max_batch_size", "int"),
    Opt("cuda_graphs", "csv_int"),
    Opt("hostname", "str", "0.0.0.0"),
    Opt("port", "int", 3000, bounds=U16, short="p"),
    Opt("prometheus_port", "int", 9000, bounds=U16, since="3.3.0"),
    Opt("shard_uds_path", "str", "/tmp/text-generation-server"),
    Opt("master_addr", "str", "localhost"),
    Opt("master_port", "int", 29500),
    Opt("huggingface_hub_cache", "str"),
    Opt("weights_cache_override", "str"),
    Opt("disable_custom_kernels", "switch", False),
    Opt("cuda_memory_fraction", "float", 1.0),
    Opt("rope_scaling", "enum", choices=ROPE_SCALING),
    Opt("rope_factor", "float"),
    Opt("json_output", "switch", False),
    Opt("otlp_endpoint", "str"),
    Opt("otlp_service_name", "str", "text-generation-inference.router"),
    Opt("cors_allow_origin", "list"),
    Opt("api_key", "str"),
    Opt("watermark_gamma", "float"),
    Opt("watermark_delta", "float"),
    Opt("ngrok", "switch", False),
    Opt("ngrok_authtoken", "str"),
    Opt("ngrok_edge", "str"),
    Opt("tokenizer_config_path", "str"),
    Opt("disable_grammar_support", "switch", False),
    Opt("env", "switch", False, short="e", env=False),
    Opt("max_client_batch_size", "int", 4),
    Opt("lora_adapters", "str"),
    Opt("usage_stats", "enum", "on", choices=USAGE_STATS),
    Opt("payload_limit", "int", 2000000),
    Opt("enable_prefill_logprobs", "switch", False),
    Opt("graceful_termination_timeout", "int", 90, short="g"),
)


class ClapError(Exception):
    pass


def _usage() -> str:
    return f"Usage: {PROG} [OPTIONS]"


def clap_fail(message: str) -> None:
    usage = f"{_usage()}\n\n" if message.startswith(("unexpected argument", "the argument")) else ""
    raise ClapError(f"error: {message}\n\n{usage}For more information, try '--help'.\n")


def _active_opts() -> list[Opt]:
    v = version_tuple(standin_version())
    return [o for o in OPTS if o.since is None or v >= version_tuple(o.since)]


def _convert(opt: Opt, raw: str) -> Any:
    shown = f"{opt.long} <{opt.value_name}>"
    if opt.kind in ("str", "list"):
        return raw
    if opt.kind == "int":
        try:
            if raw.strip() != raw or raw.startswith("+"):
                raise ValueError
            value = int(raw, 10)
        except ValueError:
            clap_fail(f"invalid value '{raw}' for '{shown}': invalid digit found in string")
        lo, hi = opt.bounds
        if value < lo or value > hi:
            if opt.bounds == U16 and value >= 0:
                clap_fail(f"invalid value '{raw}' for '{shown}': {value} is not in 0..={hi}")
            reason = (
                "invalid digit found in string" if value < 0 else "number too large to fit in target type"
            )
            clap_fail(f"invalid value '{raw}' for '{shown}': {reason}")
        return value
    if opt.kind == "float":
        try:
            return float(raw)
        except ValueError:
            clap_fail(f"invalid value '{raw}' for '{shown}': invalid float literal")
    if opt.kind == "bool_value":
        if raw not in ("true", "false"):
            clap_fail(f"invalid value '{raw}' for '{shown}'\n  [possible values: true, false]")
        return raw == "true"
    if opt.kind == "enum":
        if raw not in opt.choices:
            clap_fail(f"invalid value '{raw}' for '{shown}'\n  [possible values: {', '.join(opt.choices)}]")
        return raw
    if opt.kind == "csv_int":
        out = []
        for part in raw.split(","):
            try:
                out.append(int(part))
            except ValueError:
                clap_fail(f"invalid value '{part}' for '{shown}': invalid digit found in string")
        return out
    raise AssertionError(opt.kind)


def _help() -> str:
    lines = [f"Text Generation Launcher\n\n{_usage()}\n\nOptions:"]
    for o in _active_opts():
        short = f"-{o.short}, " if o.short else "    "
        value = "" if o.kind == "switch" else f" <{o.value_name}>"
        lines.append(f"  {short}{o.long}{value}")
        extra = []
        if o.env:
            extra.append(f"env: {o.name.upper()}=")
        if o.default not in (None, False):
            extra.append(f"default: {o.default}")
        if extra:
            lines.append(f"          [{'] ['.join(extra)}]")
    lines.append("  -h, --help\n  -V, --version")
    return "\n".join(lines) + "\n"


_FALSEY = {"n", "no", "f", "false", "off", "0", ""}


def parse_args(argv: list[str], environ: dict[str, str]) -> dict[str, Any]:
    """clap's ``Args::parse`` over argv then env; raises ClapError (exit 2) or SystemExit(0)."""
    opts = _active_opts()
    by_long = {o.long: o for o in opts}
    by_short = {o.short: o for o in opts if o.short}
    values: dict[str, Any] = {}
    seen: set[str] = set()
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg in ("-h", "--help"):
            sys.stdout.write(_help())
            raise SystemExit(0)
        if arg in ("-V", "--version"):
            sys.stdout.write(f"{PROG} {standin_version()}\n")
            raise SystemExit(0)
        inline: str | None = None
        if arg.startswith("--"):
            name, eq, rest = arg.partition("=")
            opt = by_long.get(name)
            if eq:
                inline = rest
            if opt is None:
                clap_fail(f"unexpected argument '{name}' found")
        elif arg.startswith("-") and len(arg) > 1:
            opt = by_short.get(arg[1])
            if opt is None:
                clap_fail(f"unexpected argument '-{arg[1]}' found")
            if len(arg) > 2:
                inline = arg[2:].removeprefix("=")
        else:
            clap_fail(f"unexpected argument '{arg}' found")
        assert opt is not None
        shown = opt.long if opt.kind == "switch" else f"{opt.long} <{opt.value_name}>"
        if opt.name in seen and opt.kind != "list":
            clap_fail(f"the argument '{shown}' cannot be used multiple times")
        seen.add(opt.name)
        if opt.kind == "switch":
            if inline is not None:
                clap_fail(f"unexpected value '{inline}' for '{opt.long}' found; no more were expected")
            values[opt.name] = True
            continue
        if inline is None:
            if i >= len(argv) or (argv[i].startswith("-") and argv[i] != "-" and not _numeric(argv[i])):
                clap_fail(f"a value is required for '{shown}' but none was supplied")
            inline = argv[i]
            i += 1
        value = _convert(opt, inline)
        if opt.kind == "list":
            values.setdefault(opt.name, []).append(value)
        else:
            values[opt.name] = value
    for opt in opts:
        if opt.name in values:
            continue
        env_value = environ.get(opt.name.upper()) if opt.env else None
        if env_value is not None:
            if opt.kind == "switch":
                values[opt.name] = env_value.strip().lower() not in _FALSEY
            elif opt.kind == "list":
                values[opt.name] = [env_value]
            else:
                values[opt.name] = _convert(opt, env_value)
        elif opt.kind == "list":
            values[opt.name] = []
        else:
            values[opt.name] = opt.default
    if "prometheus_port" not in values:
        values["prometheus_port"] = None  # before 3.3.0: no prometheus listener
    return values


def _numeric(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True
