"""The results store: the only reader and writer of ``<results_dir>/<sweep_id>/``.

Trials, their steps and flags, request records, engine logs, upload markers, durations of earlier
sweeps and report files are written and read through it, secrets redacted (``redact``) before
anything reaches disk. Resume, reports, the scheduler's durations and MLflow sync read it.
"""
