"""Unit tests of `engines.vllm`."""
