from tests.integration.conftest import app, events

__all__ = ["app", "events"]
