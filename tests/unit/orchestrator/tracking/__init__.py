"""Unit tests of `orchestrator.tracking`."""
