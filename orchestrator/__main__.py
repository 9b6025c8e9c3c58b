"""``python -m orchestrator [+exp=<preset>] [overrides...]``."""

import sys

from orchestrator.app import main

if __name__ == "__main__":
    sys.exit(main())
