"""``text-generation-server serve`` stand-in: one model shard (``server/text_generation_server``).

As the real shard: ``initialize_torch_distributed`` first when WORLD_SIZE > 1 (rank 0 hosts the
c10d TCPStore on MASTER_PORT; taken → ``torch.distributed.DistNetworkError ... EADDRINUSE``, exit 1;
the other ranks connect to it and wait for the whole world), then the model is "loaded"
(``TGI_STANDIN_LOAD_S``), then the gRPC server binds ``unix://{uds_path}-{rank}`` (grpc unlinks a
stale socket file first). SIGINT/SIGTERM → ``Exiting gracefully: Signal N``, the socket path is
unlinked on stop (grpc's listener shutdown unlinks it by path, even if another server bound it
since). Instead of gRPC the socket speaks JSON lines:
ServiceDiscovery, Info, Warmup, Health, Decode — enough for the router stand-in to depend on every
shard being alive. Deviation: the store binds MASTER_ADDR (resolved), not the wildcard address.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

STOP = threading.Event()


def log(level: str, text: str) -> None:
    """loguru ``serialize=True`` lines, which the launcher re-logs."""
    sys.stdout.write(json.dumps({"text": text + "\n", "record": {"level": {"name": level}}}) + "\n")
    sys.stdout.flush()


def on_signal(signum: int, frame: Any) -> None:
    print(f"Exiting gracefully: Signal {signum}", file=sys.stdout, flush=True)
    STOP.set()


def _addr(host: str) -> str:
    try:
        return socket.gethostbyname(host)
    except OSError:
        return host


def init_distributed(
    rank: int, world: int, addr: str, port: int, timeout_s: float = 120.0
) -> socket.socket | None:
    """The c10d TCPStore rendezvous; returns the store's listening socket on rank 0."""
    if world == 1:
        return None
    deadline = time.monotonic() + timeout_s
    if rank == 0:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            srv.bind((_addr(addr), port))
        except OSError as exc:
            srv.close()
            sys.stderr.write(
                "Traceback (most recent call last):\n"
                '  File "/opt/conda/lib/python3.11/site-packages/text_generation_server/utils/dist.py", '
                "line 101, in initialize_torch_distributed\n    torch.distributed.init_process_group(\n"
                "torch.distributed.DistNetworkError: The server socket has failed to listen on any local "
                f"network address. port: {port}, useIPv6: false, code: -{exc.errno}, name: EADDRINUSE, "
                "message: address already in use\n"
            )
            sys.stderr.flush()
            raise SystemExit(1) from None
        srv.listen(64)
        peers: list[socket.socket] = []
        srv.settimeout(0.2)
        while len(peers) < world - 1:
            if STOP.is_set():
                raise SystemExit(0)
            if time.monotonic() > deadline:
                sys.stderr.write(
                    "torch.distributed.DistStoreError: Timed out after 121 seconds waiting for "
                    f"clients. {len(peers) + 1}/{world} clients joined.\n"
                )
                raise SystemExit(1)
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            peers.append(conn)
        for conn in peers:
            conn.sendall(b"go\n")
            conn.close()
        threading.Thread(target=_store_forever, args=(srv,), daemon=True).start()
        return srv
    while not STOP.is_set():  # other ranks: connect (retrying) and wait for the world
        if time.monotonic() > deadline:
            sys.stderr.write("torch.distributed.DistStoreError: Timed out waiting for the store\n")
            raise SystemExit(1)
        try:
            conn = socket.create_connection((_addr(addr), port), timeout=1.0)
        except OSError:
            time.sleep(0.1)
            continue
        conn.settimeout(0.2)
        buf = b""
        while not STOP.is_set() and b"\n" not in buf:
            try:
                chunk = conn.recv(16)
            except TimeoutError:
                if time.monotonic() > deadline:
                    break
                continue
            if not chunk:
                break
            buf += chunk
        conn.close()
        if buf.startswith(b"go"):
            return None
        time.sleep(0.1)
    raise SystemExit(0)


def _store_forever(srv: socket.socket) -> None:
    """The store lives as long as the process: late clients connect and are never served."""
    held = []
    while not STOP.is_set():
        try:
            conn, _ = srv.accept()
            held.append(conn)
        except (TimeoutError, OSError):
            continue


class ShardServer:
    def __init__(self, args: argparse.Namespace, rank: int, world: int) -> None:
        self.args = args
        self.rank = rank
        self.world = world
        self.path = f"{args.uds_path}-{rank}"
        self.urls = (
            [f"unix://{args.uds_path}-{r}" for r in range(world)]
            if args.sharded
            else [f"unix://{args.uds_path}-0"]
        )
        self.config = _read_json(os.path.join(args.model_id, "config.json"))
        self.tokenizer_config = _read_json(os.path.join(args.model_id, "tokenizer_config.json"))

    def info(self) -> dict[str, Any]:
        return {
            "requires_padding": False,
            "dtype": self.args.dtype or "float16",
            "device_type": "cpu",
            "window_size": None,
            "speculate": self.args.speculate or 0,
            "rank": self.rank,
            "world_size": self.world,
        }

    def warmup(self, req: dict[str, Any]) -> dict[str, Any]:
        max_total = req.get("max_total_tokens") or os.environ.get("MAX_TOTAL_TOKENS")
        if max_total is None:
            mml = self.tokenizer_config.get("model_max_length", 2**31)
            mpe = self.config.get("max_position_embeddings", mml)
            max_total = min(int(mml), int(mpe))
        max_total = int(max_total)
        max_input = req.get("max_input_tokens")
        max_input = int(max_input) if max_input is not None else max_total - 1
        supported = req.get("max_batch_total_tokens")
        return {
            "max_supported_total_tokens": supported,
            "max_input_tokens": max_input,
            "max_total_tokens": max_total,
        }

    def handle(self, conn: socket.socket) -> None:
        f = conn.makefile("rwb")
        try:
            for raw in f:
                req = json.loads(raw)
                method = req.get("method")
                if method == "ServiceDiscovery":
                    out: dict[str, Any] = {"urls": self.urls}
                elif method == "Info":
                    out = self.info()
                elif method == "Warmup":
                    out = self.warmup(req)
                elif method in ("Health", "Decode", "Prefill", "ClearCache", "FilterBatch"):
                    out = {"ok": True}
                else:
                    out = {"error": f"unknown method {method}"}
                f.write(json.dumps(out).encode() + b"\n")
                f.flush()
        except (OSError, ValueError):
            pass
        finally:
            try:
                f.close()
                conn.close()
            except OSError:
                pass

    def serve(self) -> None:
        if os.path.exists(self.path) or os.path.islink(self.path):
            os.unlink(self.path)  # grpc_unlink_if_unix_domain_socket
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(self.path)
        srv.listen(64)
        srv.settimeout(0.2)
        log("INFO", f"Server started at unix://{self.path}")
        try:
            while not STOP.is_set():
                try:
                    conn, _ = srv.accept()
                except TimeoutError:
                    continue
                threading.Thread(target=self.handle, args=(conn,), daemon=True).start()
        finally:
            srv.close()
            with contextlib.suppress(OSError):  # grpc unlinks the path on shutdown, whoever bound it last
                os.unlink(self.path)


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path) as f:
            obj = json.load(f)
        return obj if isinstance(obj, dict) else {}
    except (OSError, ValueError):
        return {}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="text-generation-server")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("model_id")
    s.add_argument("--revision")
    s.add_argument("--sharded", action="store_true")
    s.add_argument("--quantize")
    s.add_argument("--speculate", type=int)
    s.add_argument("--dtype")
    s.add_argument("--kv-cache-dtype")
    s.add_argument("--trust-remote-code", action="store_true")
    s.add_argument("--uds-path", default="/tmp/text-generation-server")
    s.add_argument("--logger-level", default="INFO")
    s.add_argument("--json-output", action="store_true")
    s.add_argument("--otlp-endpoint")
    s.add_argument("--otlp-service-name", default="text-generation-inference.server")
    s.add_argument("--max-input-tokens", type=int)
    args = p.parse_args(argv)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if args.sharded != (world > 1):
        sys.stderr.write("RuntimeError: --sharded and WORLD_SIZE disagree\n")
        return 1
    store = init_distributed(
        rank, world, os.environ.get("MASTER_ADDR", "localhost"), int(os.environ.get("MASTER_PORT", "29500"))
    )
    if not os.path.isdir(args.model_id):
        sys.stderr.write(f"OSError: {args.model_id} is not a local folder (offline stand-in)\n")
        return 1
    if STOP.wait(float(os.environ.get("TGI_STANDIN_LOAD_S", "0.2"))):
        return 0
    ShardServer(args, rank, world).serve()
    if store is not None:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
