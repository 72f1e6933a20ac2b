"""`orchestrator init`: a new SagaBridge application from a template that is tested like our own code."""

from orchestrator.scaffold.generator import scaffold

__all__ = ["scaffold"]
