"""Unit tests of `workloads`."""
