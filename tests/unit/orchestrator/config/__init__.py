"""Unit tests of `orchestrator.config`."""
