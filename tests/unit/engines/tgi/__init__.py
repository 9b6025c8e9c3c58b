"""Unit tests of `engines.tgi`."""
