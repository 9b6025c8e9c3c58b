"""``python -m orchestrator.report``: the entry point only; see :mod:`orchestrator.cli.report`."""

import sys

from orchestrator.cli.report import main

if __name__ == "__main__":
    sys.exit(main())
