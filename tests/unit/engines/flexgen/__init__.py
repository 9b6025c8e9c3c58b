"""Unit tests of `engines.flexgen`."""
