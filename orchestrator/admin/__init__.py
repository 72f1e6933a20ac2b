"""Operational tooling: topics as code."""
