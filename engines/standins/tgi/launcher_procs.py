"""The launcher's children: one ``text-generation-server serve`` per rank and the router, each in
its own process group; their output relayed, their readiness awaited, their graceful stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engines.standins.tgi.launcher_commands import router_command, shard_command, shard_env
from engines.standins.tgi.launcher_log import LauncherError, log, println


@dataclass
class Shard:
    rank: int
    proc: subprocess.Popen[bytes]
    uds: str
    stderr_lines: list[str] = field(default_factory=list)
    ready: bool = False


def pump(stream: Any, sink: Callable[[str], None]) -> None:
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


class Processes:
    """The shards and the webserver of one launcher; ``running`` turns false on SIGINT/SIGTERM."""

    def __init__(self, args: dict[str, Any], environ: dict[str, str]) -> None:
        self.args = args
        self.environ = environ
        self.running = True
        self.shards: list[Shard] = []
        self.webserver: subprocess.Popen[bytes] | None = None

    def spawn_shards(self, num_shard: int, max_input: int | None, max_total: int | None) -> None:
        for rank in range(num_shard):
            uds = f"{self.args['shard_uds_path']}-{rank}"
            if os.path.exists(uds) or os.path.islink(uds):  # "Clean previous runs"
                os.remove(uds)
            log("INFO", "Starting shard", span="shard-manager", rank=rank)
            try:
                proc = subprocess.Popen(
                    shard_command(self.args, num_shard, max_input),
                    env=shard_env(self.args, self.environ, rank, num_shard, max_total),
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
            threading.Thread(target=pump, args=(proc.stdout, self._shard_stdout(rank)), daemon=True).start()
            threading.Thread(target=pump, args=(proc.stderr, shard.stderr_lines.append), daemon=True).start()
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

    def spawn_webserver(self, max_input: int | None, max_total: int | None, prefill: int) -> None:
        log("INFO", "Starting Webserver")
        try:
            self.webserver = subprocess.Popen(
                router_command(self.args, max_input, max_total, prefill),
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
            pump(ws.stdout, println)
            pump(ws.stderr, println)

        threading.Thread(target=relay, daemon=True).start()
