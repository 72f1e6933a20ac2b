from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.transport.admin import KafkaAdmin
from tests.integration.harness import App, EventLog, create_app
from tests.integration.services import Behaviour, start_services


@pytest.fixture
def app(kafka_admin: KafkaAdmin, kafka_bootstrap: str, tmp_path: Path) -> App:
    return create_app(kafka_admin, kafka_bootstrap, tmp_path)


@pytest.fixture
def behaviour() -> Behaviour:
    return Behaviour()


@pytest.fixture
def services(app: App, behaviour: Behaviour) -> Iterator[Behaviour]:
    threads = start_services(app, behaviour)
    yield behaviour
    for t in threads:
        t.stop()


@pytest.fixture
def events(app: App) -> Iterator[EventLog]:
    log = EventLog(app)
    yield log
    log.close()
