"""Unit tests of `engines.standins`."""
