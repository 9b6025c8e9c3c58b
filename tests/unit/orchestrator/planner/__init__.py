"""Unit tests of `orchestrator.planner`."""
