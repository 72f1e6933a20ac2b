"""A saga end to end on a SASL_SSL broker (SCRAM-SHA-512 over TLS): every component authenticates.

The orchestrator is a real `orchestrator run` process configured only through the environment
`orchestrator dev up --security sasl-ssl` prints (SAGABRIDGE_SECURITY__*); the services get the
typed `security=` argument; the client gets raw librdkafka properties in `extra_config`. All three
spellings meet the same broker, and the outcome is read back from the committed topics.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from examples.orders.models.orders import OrderPlaced
from orchestrator.client import WorkflowClient
from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.transport import header_names as h
from tests.integration.harness import App, OrchestratorProcess, read_committed
from tests.integration.services import Behaviour, start_services

pytestmark = pytest.mark.broker  # the session's private SASL_SSL broker
serde = SingleObjectSerde(SchemaRepository())


def order(i: int, customer: str) -> OrderPlaced:
    return OrderPlaced(
        order_id=f"o-{i}", customer_id=customer, sku="sku-1", quantity=1, amount_cents=500, currency="EUR"
    )


def test_saga_commits_its_outcome_over_sasl_ssl(secure_app: App, tmp_path: Path) -> None:
    behaviour = Behaviour(decline_customers={"mallory"})
    services = start_services(secure_app, behaviour)
    orchestrator = OrchestratorProcess(secure_app, "tests.integration.apps", tmp_path / "orchestrator.log").start()
    try:
        client = WorkflowClient(secure_app.bootstrap, secure_app.name, serde, extra_config=secure_app.client_properties)
        happy = client.start("saga", order(1, "alice"), workflow_id="secure-happy")
        declined = client.start("saga", order(2, "mallory"), workflow_id="secure-declined")
        assert happy.result(timeout_s=120).status == "completed"
        assert declined.result(timeout_s=120).status == "compensated"
    finally:
        code = orchestrator.terminate()
        for service in services:
            service.stop()
    log = (tmp_path / "orchestrator.log").read_text()
    assert code == 0, log[-3000:]

    props = secure_app.client_properties
    events = read_committed(secure_app.bootstrap, f"{secure_app.name}.events", properties=props)
    kinds = Counter(
        (r.key, serde.decode(r.value).schema_name.rsplit(".", 1)[-1]) for r in events if r.value is not None
    )
    for wf, terminal in ((b"secure-happy", "WorkflowCompleted"), (b"secure-declined", "WorkflowCompensated")):
        assert kinds[(wf, "WorkflowStarted")] == 1 and kinds[(wf, terminal)] == 1, kinds
    # The commands went out in the orchestrator's transactions, over the same listener.
    inventory = read_committed(secure_app.bootstrap, secure_app.command_topic("inventory"), properties=props)
    assert Counter(r.header(h.COMMAND_TYPE) for r in inventory) == {
        "sagabridge.demo.inventory.ReserveStock": 2,
        "sagabridge.demo.inventory.ReleaseStock": 1,
    }
    assert [e for e in behaviour.log if e.split(":")[1] == "secure-declined"] == [
        "reserve:secure-declined:1",
        "charge:secure-declined:1",
        "release:secure-declined:1",
    ]
