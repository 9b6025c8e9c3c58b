"""Unit tests of `engines`."""
