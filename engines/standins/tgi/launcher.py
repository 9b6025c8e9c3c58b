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

This file is the program (argument checks, the lifecycle, exit codes); its parts: ``launcher_args``
(clap), ``launcher_log`` (output), ``launcher_commands`` (the children's argv and env),
``launcher_procs`` (the children).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as a file (bin/text-generation-launcher): import the package from the repo root
    sys.path[0] = str(Path(__file__).resolve().parents[3])

from engines.standins.tgi.launcher_args import ClapError, parse_args
from engines.standins.tgi.launcher_commands import find_num_shards, model_config
from engines.standins.tgi.launcher_log import LauncherError, args_debug, log, set_json
from engines.standins.tgi.launcher_procs import Processes, terminate


class Launcher(Processes):
    def on_signal(self, signum: int, frame: Any) -> None:
        self.running = False

    def run(self) -> None:
        a = self.args
        log("INFO", args_debug(a))
        config = model_config(a["model_id"])
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


def main(argv: list[str] | None = None) -> int:
    environ = dict(os.environ)
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv, environ)
    except ClapError as exc:
        sys.stderr.write(str(exc))
        return 2
    set_json(bool(args["json_output"]))
    try:
        Launcher(args, environ).run()
    except LauncherError as exc:
        sys.stderr.write(f"Error: {exc.debug()}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
