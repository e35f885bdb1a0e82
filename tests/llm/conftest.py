"""Fixtures for the llm tests. The helpers live in llm_fixtures (a unique module name, so importing them
cannot pick up another directory's conftest)."""

from llm_fixtures import tiny_ckpt  # noqa: F401  (a session fixture, registered by importing it here)
