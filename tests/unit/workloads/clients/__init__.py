"""Unit tests of `workloads.clients`."""
