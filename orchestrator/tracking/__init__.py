"""MLflow, one exporter of the results store, and the only package that imports ``mlflow``.

``server`` runs the local MLflow server, ``run_record`` turns a stored trial into a run's params,
metrics and tags, ``tracker`` logs runs, ``sync`` uploads what a sweep's MLflow is missing and
``compare`` reads a sweep back as a DataFrame from the store or from MLflow.
"""
