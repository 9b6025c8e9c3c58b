"""``text-generation-launcher`` stand-in: TGI v3.3.7 ``launcher/src/main.rs`` (see __init__.py).

Parses the real clap ``Args`` (long names, defaults, ``env`` fallbacks = the upper-cased field
name, value enums, clap's error text and exit code 2), validates as ``main()`` does
(``Error: ArgumentValidation(..)``, exit 1), starts one ``text-generation-server serve`` process per
rank in its own process group (RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT env), waits until every
``{shard_uds_path}-{rank}`` exists (``Shard N failed to start`` → ``Error: ShardCannotStart``,
exit 1), then starts ``text-generation-router`` with the real router arguments and watches both.
SIGINT/SIGTERM (ctrlc crate): terminate the webserver, then the shards (SIGTERM, then SIGKILL after
``--graceful-termination-timeout``), exit 0. Like the real launcher, its children are in their own
process groups: signalling the launcher's group does not reach them, the launcher stops them.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PROG = "text-generation-launcher"


def standin_version() -> str:
    return os.environ.get("TGI_STANDIN_VERSION", "3.3.7")


def version_tuple(v: str) -> tuple[int, ...]:
    out = []
    for part in v.split("-")[0].split("."):
        try:
            out.append(int(part))
        except ValueError:
            out.append(0)
    return tuple(out)


# ---------------------------------------------------------------- clap emulation

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


# ---------------------------------------------------------------- logging (tracing compact / json)

_JSON = False
_LOCK = threading.Lock()


def log(level: str, message: str, *, span: str | None = None, **fields: Any) -> None:
    ts = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with _LOCK:
        if _JSON:
            obj: dict[str, Any] = {
                "timestamp": ts,
                "level": level,
                "fields": {"message": message},
                "target": "text_generation_launcher",
            }
            if span:
                obj["span"] = {"name": span, **fields}
            sys.stdout.write(json.dumps(obj) + "\n")
        else:
            where = f"{span}: " if span else ""
            extra = "".join(f" {k}={v}" for k, v in fields.items())
            sys.stdout.write(f"{ts} {level:>5} {where}text_generation_launcher: {message}{extra}\n")
        sys.stdout.flush()


def _rust(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_rust(v) for v in value) + "]"
    return str(value)


def args_debug(a: dict[str, Any]) -> str:
    """``tracing::info!("{:#?}", args)``: Option fields as Some(..)/None, enums as variant names."""
    lines = ["Args {"]
    for opt in OPTS:
        if opt.name not in a:
            continue
        value = a[opt.name]
        if opt.name == "api_key" and value is not None:
            value = "<redacted>"
        optional = opt.default is None and opt.kind not in ("switch", "list")
        if opt.kind == "enum" and value is not None:
            text = "".join(part.capitalize() for part in value.replace("_", "-").split("-"))
        else:
            text = _rust(value)
        if optional and value is not None:
            text = f"Some({text})"
        lines.append(f"    {opt.name}: {text},")
    return "\n".join([*lines, "}"])


class LauncherError(Exception):
    """Printed as Rust prints ``main``'s ``Err`` (Debug): ``Error: ShardCannotStart``."""

    def __init__(self, variant: str, detail: str | None = None) -> None:
        super().__init__(variant)
        self.variant = variant
        self.detail = detail

    def debug(self) -> str:
        return f"{self.variant}({json.dumps(self.detail)})" if self.detail is not None else self.variant


# ---------------------------------------------------------------- shards and webserver


def num_cuda_devices(environ: dict[str, str]) -> int | None:
    for name in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "ZE_AFFINITY_MASK"):
        if name in environ:
            return len(environ[name].split(","))
    return None


def find_num_shards(sharded: bool | None, num_shard: int | None, environ: dict[str, str]) -> int:
    if sharded is True and num_shard is None:
        log("INFO", "Parsing num_shard from CUDA_VISIBLE_DEVICES/NVIDIA_VISIBLE_DEVICES/ZE_AFFINITY_MASK")
        n = num_cuda_devices(environ)
        if n is None:
            sys.stderr.write(
                "thread 'main' panicked at launcher/src/main.rs:1385:18:\n--num-shard and "
                "CUDA_VISIBLE_DEVICES/NVIDIA_VISIBLE_DEVICES/ZE_AFFINITY_MASK are not set: NotPresent\n"
            )
            raise SystemExit(101)
        if n <= 1:
            raise LauncherError("NotEnoughCUDADevices", f"`sharded` is true but only found {n} CUDA devices")
        return n
    if sharded is True and num_shard is not None and num_shard <= 1:
        raise LauncherError("ArgumentValidation", "`sharded` is true but `num_shard` <= 1")
    if num_shard is not None:
        n = num_shard
    elif sharded is False:
        n = 1
    else:
        n = num_cuda_devices(environ) or 1
    if n < 1:
        raise LauncherError("ArgumentValidation", "`num_shard` cannot be < 1")
    return n


def _model_config(model_id: str) -> dict[str, Any]:
    try:
        with open(os.path.join(model_id, "config.json")) as f:
            obj = json.load(f)
        return obj if isinstance(obj, dict) else {}
    except (OSError, ValueError):
        return {}


@dataclass
class Shard:
    rank: int
    proc: subprocess.Popen[bytes]
    uds: str
    stderr_lines: list[str] = field(default_factory=list)
    ready: bool = False


def _pump(stream: Any, sink: Callable[[str], None]) -> None:
    for raw in iter(stream.readline, b""):
        sink(raw.decode("utf-8", errors="replace").rstrip("\n"))
    stream.close()


def terminate(name: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    log("INFO", f"Terminating {name}")
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    log("INFO", f"Waiting for {name} to gracefully shutdown")
    try:
        proc.wait(timeout=timeout_s)
        log("INFO", f"{name} terminated")
    except subprocess.TimeoutExpired:
        log("INFO", f"Killing {name}")
        proc.kill()
        proc.wait()
        log("INFO", f"{name} killed")


class Launcher:
    def __init__(self, args: dict[str, Any], environ: dict[str, str]) -> None:
        self.args = args
        self.environ = environ
        self.running = True
        self.shards: list[Shard] = []
        self.webserver: subprocess.Popen[bytes] | None = None

    def on_signal(self, signum: int, frame: Any) -> None:
        self.running = False

    def shard_command(self, num_shard: int, max_input_tokens: int | None) -> list[str]:
        a = self.args
        cmd = [
            "text-generation-server",
            "serve",
            a["model_id"],
            "--uds-path",
            a["shard_uds_path"],
            "--logger-level",
            "INFO",
            "--json-output",
        ]
        if a["trust_remote_code"]:
            cmd.append("--trust-remote-code")
        if num_shard > 1:
            cmd.append("--sharded")
        for name in ("quantize", "speculate", "dtype", "kv_cache_dtype", "revision", "otlp_endpoint"):
            if a[name] is not None:
                cmd += ["--" + name.replace("_", "-"), str(a[name])]
        cmd += ["--otlp-service-name", a["otlp_service_name"]]
        if max_input_tokens is not None:
            cmd += ["--max-input-tokens", str(max_input_tokens)]
        return cmd

    def shard_env(self, rank: int, num_shard: int, max_total_tokens: int | None) -> dict[str, str]:
        a = self.args
        env = {k: v for k, v in self.environ.items() if k != "LOG_LEVEL"}
        env.update(
            RANK=str(rank),
            WORLD_SIZE=str(num_shard),
            MASTER_ADDR=a["master_addr"],
            MASTER_PORT=str(a["master_port"]),
            TORCH_NCCL_AVOID_RECORD_STREAMS="1",
            CUDA_MEMORY_FRACTION=str(a["cuda_memory_fraction"]),
            SAFETENSORS_FAST_GPU="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
        )
        env["HF_HUB_ENABLE_HF_TRANSFER"] = self.environ.get("HF_HUB_ENABLE_HF_TRANSFER", "1")
        if max_total_tokens is not None:
            env["MAX_TOTAL_TOKENS"] = str(max_total_tokens)
        if a["max_batch_size"] is not None:
            env["MAX_BATCH_SIZE"] = str(a["max_batch_size"])
        if a["huggingface_hub_cache"] is not None:
            env["HUGGINGFACE_HUB_CACHE"] = a["huggingface_hub_cache"]
        if a["weights_cache_override"] is not None:
            env["WEIGHTS_CACHE_OVERRIDE"] = a["weights_cache_override"]
        if a["disable_custom_kernels"]:
            env["DISABLE_CUSTOM_KERNELS"] = "True"
        for name in ("watermark_gamma", "watermark_delta"):
            if a[name] is not None:
                env[name.upper()] = str(a[name])
        return env

    def spawn_shards(self, num_shard: int, max_input: int | None, max_total: int | None) -> None:
        for rank in range(num_shard):
            uds = f"{self.args['shard_uds_path']}-{rank}"
            if os.path.exists(uds) or os.path.islink(uds):  # "Clean previous runs"
                os.remove(uds)
            log("INFO", "Starting shard", span="shard-manager", rank=rank)
            try:
                proc = subprocess.Popen(
                    self.shard_command(num_shard, max_input),
                    env=self.shard_env(rank, num_shard, max_total),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    process_group=0,
                )
            except FileNotFoundError as exc:
                log("ERROR", "text-generation-server not found in PATH", span="shard-manager", rank=rank)
                log("ERROR", "Please install it with `make install-server`", span="shard-manager", rank=rank)
                log("ERROR", str(exc), span="shard-manager", rank=rank)
                log("ERROR", f"Shard {rank} failed to start")
                self.shutdown_shards()
                raise LauncherError("ShardCannotStart") from None
            shard = Shard(rank, proc, uds)
            threading.Thread(target=_pump, args=(proc.stdout, self._shard_stdout(rank)), daemon=True).start()
            threading.Thread(target=_pump, args=(proc.stderr, shard.stderr_lines.append), daemon=True).start()
            self.shards.append(shard)
        started = time.monotonic()
        waited = time.monotonic()
        while self.running:
            for shard in self.shards:
                if shard.proc.poll() is not None:
                    time.sleep(0.05)
                    err = "".join("\n" + line for line in shard.stderr_lines)
                    log(
                        "ERROR",
                        f"Shard complete standard error output:\n{err}",
                        span="shard-manager",
                        rank=shard.rank,
                    )
                    if shard.proc.returncode < 0:
                        log(
                            "ERROR",
                            f"Shard process was signaled to shutdown with signal {-shard.proc.returncode}",
                            span="shard-manager",
                            rank=shard.rank,
                        )
                    log("ERROR", f"Shard {shard.rank} failed to start")
                    self.shutdown_shards()
                    raise LauncherError("ShardCannotStart")
                if not shard.ready and os.path.exists(shard.uds):
                    shard.ready = True
                    log(
                        "INFO",
                        f"Shard ready in {time.monotonic() - started:.3f}s",
                        span="shard-manager",
                        rank=shard.rank,
                    )
            if all(s.ready for s in self.shards):
                return
            if time.monotonic() - waited > 10:
                log("INFO", "Waiting for shard to be ready...", span="shard-manager")
                waited = time.monotonic()
            time.sleep(0.1)

    def _shard_stdout(self, rank: int) -> Callable[[str], None]:
        def sink(line: str) -> None:
            try:
                obj = json.loads(line)
                text = obj["text"].rstrip()
                level = obj.get("record", {}).get("level", {}).get("name", "INFO")
            except (ValueError, KeyError, TypeError, AttributeError):
                text, level = line, "INFO"
            log({"SUCCESS": "INFO", "CRITICAL": "ERROR", "WARNING": "WARN"}.get(level, level), text)

        return sink

    def shutdown_shards(self) -> None:
        log("INFO", "Shutting down shards")
        timeout = float(self.args["graceful_termination_timeout"])
        threads = [
            threading.Thread(target=terminate, args=("shard", s.proc, timeout))
            for s in self.shards
            if s.proc.poll() is None
        ]
        for t in threads:  # each shard manager thread terminates its own shard, all at once
            t.start()
        for t in threads:
            t.join()

    def router_command(self, max_input: int | None, max_total: int | None, prefill: int) -> list[str]:
        a = self.args
        cmd = [
            "text-generation-router",
            "--max-client-batch-size",
            str(a["max_client_batch_size"]),
            "--max-concurrent-requests",
            str(a["max_concurrent_requests"]),
            "--max-best-of",
            str(a["max_best_of"]),
            "--max-stop-sequences",
            str(a["max_stop_sequences"]),
            "--max-top-n-tokens",
            str(a["max_top_n_tokens"]),
            "--max-batch-prefill-tokens",
            str(prefill),
            "--waiting-served-ratio",
            str(a["waiting_served_ratio"]),
            "--max-waiting-tokens",
            str(a["max_waiting_tokens"]),
            "--validation-workers",
            str(a["validation_workers"]),
            "--hostname",
            a["hostname"],
            "--port",
            str(a["port"]),
        ]
        if a["prometheus_port"] is not None:
            cmd += ["--prometheus-port", str(a["prometheus_port"])]
        cmd += [
            "--master-shard-uds-path",
            f"{a['shard_uds_path']}-0",
            "--tokenizer-name",
            a["model_id"],
            "--payload-limit",
            str(a["payload_limit"]),
        ]
        if max_input is not None:
            cmd += ["--max-input-tokens", str(max_input)]
        if max_total is not None:
            cmd += ["--max-total-tokens", str(max_total)]
        cmd += ["--usage-stats", a["usage_stats"]]
        if a["disable_grammar_support"]:
            cmd.append("--disable-grammar-support")
        if a["tokenizer_config_path"]:
            cmd += ["--tokenizer-config-path", a["tokenizer_config_path"]]
        if a["max_batch_total_tokens"] is not None:
            cmd += ["--max-batch-total-tokens", str(a["max_batch_total_tokens"])]
        if a["max_batch_size"] is not None:
            cmd += ["--max-batch-size", str(a["max_batch_size"])]
        if a["revision"] is not None:
            cmd += ["--revision", a["revision"]]
        if a["trust_remote_code"]:
            cmd.append("--trust-remote-code")
        if a["json_output"]:
            cmd.append("--json-output")
        if a["otlp_endpoint"] is not None:
            cmd += ["--otlp-endpoint", a["otlp_endpoint"]]
        cmd += ["--otlp-service-name", a["otlp_service_name"]]
        for origin in a["cors_allow_origin"]:
            cmd += ["--cors-allow-origin", origin]
        if a["api_key"] is not None:
            cmd += ["--api-key", a["api_key"]]
        return cmd

    def spawn_webserver(self, max_input: int | None, max_total: int | None, prefill: int) -> None:
        log("INFO", "Starting Webserver")
        try:
            self.webserver = subprocess.Popen(
                self.router_command(max_input, max_total, prefill),
                env=dict(self.environ),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                process_group=0,
            )
        except FileNotFoundError as exc:
            log("ERROR", f"Failed to start webserver: {exc}")
            log("ERROR", "text-generation-router not found in PATH")
            log("ERROR", "Please install it with `make install-router`")
            self.shutdown_shards()
            raise LauncherError("WebserverCannotStart") from None
        ws = self.webserver

        def relay() -> None:  # as the real one: stdout until EOF, then stderr
            _pump(ws.stdout, _println)
            _pump(ws.stderr, _println)

        threading.Thread(target=relay, daemon=True).start()

    def run(self) -> None:
        a = self.args
        log("INFO", args_debug(a))
        config = _model_config(a["model_id"])
        num_shard = find_num_shards(a["sharded"], a["num_shard"], self.environ)
        if num_shard > 1:
            if a["quantize"] == "exl2":
                raise LauncherError(
                    "ArgumentValidation", "Sharding is currently not supported with `exl2` quantization"
                )
            log("INFO", f"Sharding model on {num_shard} processes")
        mit, mil = a["max_input_tokens"], a["max_input_length"]
        if mit is not None and mil is not None:
            raise LauncherError(
                "ArgumentValidation",
                f"Both `max_input_tokens` ({mit}) and `max_input_length` ({mil}) are set. Please define only "
                "`max_input_tokens` as `max_input_length is deprecated for naming consistency.",
            )
        max_input = mit if mit is not None else mil
        max_total = a["max_total_tokens"]
        prefill = a["max_batch_prefill_tokens"]
        if prefill is None:
            prefill = 4096
            mpe = config.get("max_position_embeddings")
            if isinstance(mpe, int):
                prefill = min(prefill, mpe)
            log("INFO", f"Default `max_batch_prefill_tokens` to {prefill}")
        if max_input is not None and max_total is not None and max_input >= max_total:
            raise LauncherError(
                "ArgumentValidation",
                f"`max_input_tokens`({max_input}) must be < `max_total_tokens`({max_total})",
            )
        if a["validation_workers"] == 0:
            raise LauncherError("ArgumentValidation", "`validation_workers` must be > 0")
        if a["trust_remote_code"]:
            log(
                "WARN",
                f"`trust_remote_code` is set. Trusting that model `{a['model_id']}` do not contain "
                "malicious code.",
            )
        mbt = a["max_batch_total_tokens"]
        if mbt is not None and max_total is not None and max_total > mbt:
            raise LauncherError(
                "ArgumentValidation",
                f"`max_total_tokens` must be <= `max_batch_total_tokens`. Given: {max_total} and {mbt}",
            )
        if a["ngrok"] and a["ngrok_authtoken"] is None:
            raise LauncherError(
                "ArgumentValidation", "`ngrok-authtoken` must be set when using ngrok tunneling"
            )
        if a["ngrok"] and a["ngrok_edge"] is None:
            raise LauncherError("ArgumentValidation", "`ngrok-edge` must be set when using ngrok tunneling")
        signal.signal(signal.SIGINT, self.on_signal)
        signal.signal(signal.SIGTERM, self.on_signal)
        # download_convert_model: offline, a local directory is the only model id that resolves.
        log("INFO", f"Starting check and download process for {a['model_id']}", span="download")
        if not os.path.isdir(a["model_id"]):
            log(
                "ERROR",
                f"Download encountered an error: model {a['model_id']!r} not found (offline stand-in)",
            )
            raise LauncherError("DownloadError")
        log("INFO", f"Successfully downloaded weights for {a['model_id']}", span="download")
        if not self.running:
            return
        self.spawn_shards(num_shard, max_input, max_total)
        if not self.running:
            self.shutdown_shards()
            return
        self.spawn_webserver(max_input, max_total, prefill)
        ws = self.webserver
        assert ws is not None
        failed: LauncherError | None = None
        while self.running:
            crashed = next((s for s in self.shards if s.proc.poll() is not None), None)
            if crashed is not None:
                log("ERROR", f"Shard {crashed.rank} crashed")
                failed = LauncherError("ShardFailed")
                break
            if ws.poll() is not None:
                time.sleep(0.1)  # let the relay thread print the router's last words
                log("ERROR", "Webserver Crashed")
                self.shutdown_shards()
                raise LauncherError("WebserverFailed")
            time.sleep(0.1)
        terminate("webserver", ws, float(a["graceful_termination_timeout"]))
        self.shutdown_shards()
        if failed is not None:
            raise failed


def _println(line: str) -> None:
    with _LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    global _JSON
    environ = dict(os.environ)
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv, environ)
    except ClapError as exc:
        sys.stderr.write(str(exc))
        return 2
    _JSON = bool(args["json_output"])
    try:
        Launcher(args, environ).run()
    except LauncherError as exc:
        sys.stderr.write(f"Error: {exc.debug()}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
