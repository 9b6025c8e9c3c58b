"""Unit tests of `orchestrator`."""
