"""Hugging Face text-generation-inference (``engine=tgi``): its options (``config.py``), the
launcher's flags, versions and environment (``launcher.py``) and the engine (``engine.py``, it
registers itself)."""
