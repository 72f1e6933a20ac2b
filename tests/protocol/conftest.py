from tests.integration.conftest import app, behaviour, events, services

__all__ = ["app", "behaviour", "events", "services"]
