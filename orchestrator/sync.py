"""``python -m orchestrator.sync``: the entry point only; see :mod:`orchestrator.cli.sync`."""

import sys

from orchestrator.cli.sync import main

if __name__ == "__main__":
    sys.exit(main())
