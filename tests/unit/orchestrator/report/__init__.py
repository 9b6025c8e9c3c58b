"""Unit tests of `orchestrator.report`."""
