"""Evaluation: seeded episodes and honest intervals."""
