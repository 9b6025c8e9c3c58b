"""Unit tests of `orchestrator.execution`."""
