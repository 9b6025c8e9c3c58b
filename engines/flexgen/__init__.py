"""FlexGen (``engine=flexgen``), a batch engine: its options (``config.py``), its benchmark log
(``log.py``) and the engine (``engine.py``, it registers itself)."""
