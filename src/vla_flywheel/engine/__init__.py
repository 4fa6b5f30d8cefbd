"""Rollout collection: whole episodes per call, written as datasets with provenance."""
