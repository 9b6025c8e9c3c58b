"""Unit tests of `orchestrator.cli`."""
