"""Running a sweep's trials on Ray: the cluster, the scheduler and its capacity model, the engine
actors, and the runner that drives one engine instance through its workload points.

The driver hands it trials (``orchestrator.sweep``) and gets typed results back, one callback a
trial; it never writes results or talks to MLflow itself.
"""
