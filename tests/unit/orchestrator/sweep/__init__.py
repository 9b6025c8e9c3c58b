"""Unit tests of `orchestrator.sweep`."""
