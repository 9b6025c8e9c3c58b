"""The bottom layer every other one shares: typed errors, trial identity and status, typed results.

Nothing here starts a process, reads a file or imports Ray, MLflow or an engine; it imports only
the typed config schema (``orchestrator.config.schema``) and itself.
"""
