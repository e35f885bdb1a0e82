"""Metrics computed from model outputs (embeddings, texts) rather than from a family's parameters."""
