"""The ``command`` engine (``engine=command``): any user command per trial (``engine.py``, it
registers itself)."""
