"""A stand-in engine for scheduling tests and benchmarks.

``sleeper.py SECONDS METRICS_FILE TP TRIAL_ID MARKER_DIR|-`` (SECONDS may be a product like ``2*3.0``).
"""

import json
import math
import sys
import time
from pathlib import Path

seconds, metrics_file, tp, trial_id, marker_dir = sys.argv[1:6]
if marker_dir != "-":
    with (Path(marker_dir) / trial_id).open("a") as f:
        f.write("x")
t0 = time.time()
time.sleep(math.prod(float(x) for x in seconds.split("*")))  # "2*3.0": a template's axis × scale
Path(metrics_file).write_text(json.dumps({"tp": int(tp), "slept_s": time.time() - t0}) + "\n")
