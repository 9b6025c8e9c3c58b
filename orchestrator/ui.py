"""``python -m orchestrator.ui``: the entry point only; see :mod:`orchestrator.cli.ui`."""

import sys

from orchestrator.cli.ui import main

if __name__ == "__main__":
    sys.exit(main())
