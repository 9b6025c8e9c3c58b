"""Unit tests of `orchestrator.store`."""
